# Settings as the tutorial keeps them; FLASK_<NAME> in the environment overrides each.
SECRET_KEY = "change-me-to-a-long-random-string"
MAIL_SERVER = "smtp.qq.com"
MAIL_PORT = 465
MAIL_USE_SSL = True
MAIL_USERNAME = "me@qq.com"
MAIL_PASSWORD = "authorisation code"
MAIL_DEFAULT_SENDER = "me@qq.com"
# The one new line: where codes live (the tutorial's Redis works too: redis://...).
EMAILCODE_STORAGE_URI = "sqlite:///emailcode.sqlite3"
