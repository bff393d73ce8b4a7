"""Handler modules that tests/integration/test_lambda_runtime.py runs under `python -m awslambdaric`."""
