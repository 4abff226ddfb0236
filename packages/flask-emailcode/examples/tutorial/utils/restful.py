from flask import jsonify


def result(code, message, data):
    return jsonify(code=code, message=message, data=data or {}), code


def success(message="", data=None):
    return result(200, message, data)


def params_error(message="", data=None):
    return result(400, message, data)
