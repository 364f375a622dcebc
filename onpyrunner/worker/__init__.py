"""Workers: claim a job, run it in the sandbox, report; and give back what they cannot finish."""
