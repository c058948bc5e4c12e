"""Light consultation (轻问诊): a resident asks, a doctor of the pool claims and answers."""
