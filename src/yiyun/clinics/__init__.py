"""Remote outpatient clinics (远程门诊): sessions, slots, queue, visits, prescriptions."""
