"""The floor: a bare Flask endpoint doing one Redis write, nothing else."""

from __future__ import annotations

import os
import secrets

import redis
from flask import Flask, jsonify

app = Flask(__name__)
client = redis.Redis.from_url(os.environ["REDIS_URL"])


@app.post("/cms/email_captcha")
def write() -> object:
    client.set(f"floor:{secrets.token_hex(8)}", "1", ex=60)
    return jsonify({"code": 200, "message": "ok", "data": {}})
