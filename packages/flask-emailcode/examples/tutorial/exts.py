from dataclasses import dataclass

from flask_mailman import Mail
from flask_wtf import CSRFProtect

from flask_emailcode import EmailCode

mail = Mail()
csrf = CSRFProtect()
emailcode = EmailCode()


@dataclass
class User:
    id: int
    email: str


# A stand-in for the tutorial's CMS users and their login.
USERS = {1: User(1, "old@example.com")}
