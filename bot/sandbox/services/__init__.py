"""The processes the sandbox starts and owns, each on 127.0.0.1, a free port and its own folder:
PostgreSQL (``initdb``/``pg_ctl``), nginx, Redis and a Celery worker. The test suite's fixtures
start the same classes, so the sandbox and the tests share one implementation."""
