"""`python -m service`: start the service with settings from `REID_*` environment variables."""

from service.main import run

if __name__ == "__main__":
    run()
