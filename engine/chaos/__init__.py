"""`hlmm chaos`: a fault-injection run of the real engine against the local venue, judged on venue records."""
