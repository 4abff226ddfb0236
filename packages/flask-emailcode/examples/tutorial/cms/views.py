from exts import emailcode
from flask import Blueprint, g, render_template, request, views
from utils import restful

from cms.forms import ResetEmailForm

bp = Blueprint("cms", __name__, url_prefix="/cms")


@bp.post("/email_captcha")
def email_captcha():
    email = request.form.get("email")
    if not email:
        return restful.params_error("请输入邮箱地址")
    # A cooldown answers 429 with Retry-After, from the extension's handlers.
    sent = emailcode.send("change_email", to=email, account=str(g.cms_user.id))
    return restful.success(data=sent.as_dict())


class ResetEmailView(views.MethodView):
    def get(self):
        return render_template("cms/cms_resetemail.html")

    def post(self):
        form = ResetEmailForm(request.form)
        if form.validate():
            g.cms_user.email = form.email.data
            return restful.success()
        return restful.params_error(form.get_error())


bp.add_url_rule("/resetemail", view_func=ResetEmailView.as_view("resetemail"))
