"""A job for the scheduling tests: it leaves a mark in the Redis its worker runs on."""

from rq import get_current_job


def mark(key: str, token: str) -> str:
    get_current_job().connection.set(key, token)
    return token
