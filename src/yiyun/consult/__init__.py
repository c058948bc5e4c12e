"""Remote consultation (远程会诊) following the 2018 telemedicine service rules."""
