from flask import g
from wtforms import StringField, ValidationError
from wtforms.validators import Email

from flask_emailcode.forms import CodeCheckedForm, EmailCodeField


class ResetEmailForm(CodeCheckedForm):
    email = StringField(validators=[Email(message="请输入正确格式的邮箱地址")])
    # Checked (and spent) only after email has passed its own validators.
    captcha = EmailCodeField(
        purpose="change_email", address="email", account=lambda: str(g.cms_user.id)
    )

    def validate_email(self, field):
        if field.data == g.cms_user.email:
            raise ValidationError("不能修改为相同的邮箱!")

    def get_error(self):
        return next(iter(self.errors.values()))[0]
