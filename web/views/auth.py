"""Signing in and out, and the first password change."""

from __future__ import annotations

import contextlib

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired

from web.api import ApiError
from web.forms import ApiForm
from web.session import api, current_user, home_of, start_session

bp = Blueprint("auth", __name__)


class LoginForm(ApiForm):
    username = StringField(_l("Username"), validators=[InputRequired()])
    password = PasswordField(_l("Password"), validators=[InputRequired()])


class PasswordForm(ApiForm):
    not_sent = ("confirm_password",)
    current_password = PasswordField(_l("Current password"), validators=[InputRequired()])
    new_password = PasswordField(_l("New password"), validators=[InputRequired()])
    confirm_password = PasswordField(
        _l("New password again"),
        validators=[InputRequired(), EqualTo("new_password", _l("The passwords differ."))],
    )


def _safe_next(target: str | None) -> str | None:
    """Only a path of this site: never an open redirect to another."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return None


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    form = LoginForm()
    if form.validate_on_submit():
        try:
            tokens = api().post(
                "/auth/login", {"username": form.username.data, "password": form.password.data}
            )
        except ApiError as error:
            status = form.refused(error)
            return render_template("auth/login.html", form=form), status
        else:
            user = start_session(tokens)
            if user.must_change_password:
                return redirect(url_for("auth.change_password"))
            return redirect(_safe_next(request.args.get("next")) or home_of(user))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> Response:
    tokens = session.get("tokens")
    if tokens:
        # Refused means already revoked: nothing left to do.
        with contextlib.suppress(ApiError):
            api().send(
                "POST",
                "/auth/logout",
                token=tokens["access"],
                json={"refresh_token": tokens["refresh"]},
            )
    session.clear()
    flash(_l("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
def change_password() -> str | Response | tuple[str, int]:
    if "tokens" not in session:
        return redirect(url_for("auth.login"))
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            tokens = api().post("/auth/me/password", form.body())
        except ApiError as error:
            status = form.refused(error)
        else:
            user = start_session(tokens)
            flash(_l("Your password has been changed."), "success")
            return redirect(home_of(user))
    forced = current_user().must_change_password
    return render_template("auth/password.html", form=form, forced=forced), status
