"""Cold-start handler modules for bench/cold_start.py: each defines two models and does one GetItem.

Run one as `python -m _handlers.<name>` from bench/. Settings come from the environment the way a
Lambda gets them: BENCH_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
"""
