"""The reference app: a Flask page that counts its visits in Redis."""

import time

import redis
from flask import Flask

app = Flask(__name__)
cache = redis.Redis(host="redis", port=6379)


def get_hit_count() -> int:
    retries = 5
    while True:
        try:
            return cache.incr("hits")
        except redis.exceptions.ConnectionError:
            if retries == 0:
                raise
            retries -= 1
            time.sleep(0.5)


@app.route("/")
def hello() -> str:
    count = get_hit_count()
    return f"Hello World! I have been seen {count} times.\n"
