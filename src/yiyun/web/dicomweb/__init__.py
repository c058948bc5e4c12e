"""DICOMweb (PS3.18) over our studies: QIDO-RS, WADO-RS, STOW-RS."""
