"""The extension singletons; ``create_app`` binds them to an application."""
from apispec.ext.marshmallow import MarshmallowPlugin
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from core.db import Base
from core.errors import ContractApi, schema_name

db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
# Limits are declared where they apply (the login endpoints); none by default.
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)
api: Api = ContractApi(spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name)})
# async_mode is explicit: with gevent installed Flask-SocketIO would pick it on its own.
socketio = SocketIO(async_mode="threading")
