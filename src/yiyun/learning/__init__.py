"""Learning management over the teaching library and lectures: attendance, quizzes,
courses with continuing-medical-education credit, the literature shelf and the
de-identification gate for clinical recordings."""
