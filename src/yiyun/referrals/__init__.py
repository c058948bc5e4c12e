"""Two-way referral (双向转诊) between community centres and hospitals."""
