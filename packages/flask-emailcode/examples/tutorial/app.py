import config
from cms.views import bp
from exts import USERS, csrf, emailcode, mail
from flask import Flask, g
from flask_wtf.csrf import CSRFError
from utils import restful


def create_app():
    app = Flask(__name__)
    app.config.from_object(config)
    app.config.from_prefixed_env()
    mail.init_app(app)
    csrf.init_app(app)
    emailcode.init_app(app)
    app.register_blueprint(bp)

    @app.before_request
    def log_in_the_demo_user():
        g.cms_user = USERS[1]

    @app.errorhandler(CSRFError)
    def csrf_refused(error):
        return restful.params_error(error.description)

    return app


app = create_app()
