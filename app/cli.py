"""The `relais` command line.

Every command exits 0 when it did its job (`serve` and `worker` too, when SIGTERM or SIGINT stops
them cleanly), 1 with one `error: ...` line on stderr when it could not (unreachable database,
missing file, unknown user, no model...), and 2 for a usage mistake (click's own convention).
A traceback is printed only for an unexpected exception, which is a bug.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from app.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, sessionmaker

app = typer.Typer(
    help="Relais: the inbox assistant for community managers.", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Reviewers and admins.", no_args_is_help=True)
models_app = typer.Typer(help="Trained classifier versions.", no_args_is_help=True)
answers_app = typer.Typer(help="The knowledge base (saved answers): import and export.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(models_app, name="models")
app.add_typer(answers_app, name="answers")


def _settings() -> Settings:
    return Settings()


def _language() -> str:
    """RELAIS_LANGUAGE (French by default), read even when the other settings do not parse."""
    from app import i18n

    language = os.environ.get("RELAIS_LANGUAGE", "").strip().lower()
    return language if language in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE


def _say(message: str, **variables: object) -> str:
    """`message` in RELAIS_LANGUAGE (French by default)."""
    from app import i18n

    return i18n.t(_language(), message, **variables)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _stop_cleanly(signum: int, frame: FrameType | None) -> None:
    # uvicorn re-raises the signal that stopped it once it has shut down gracefully: a clean stop
    # on request is a success, so it ends the process with status 0 rather than death by signal.
    raise typer.Exit(0)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (use PostgreSQL for more than one).")] = 1,
    migrate: Annotated[bool, typer.Option(help="Apply database migrations first.")] = True,
    log_level: Annotated[str, typer.Option(help="Level of uvicorn's own messages.")] = "warning",
    access_log: Annotated[bool, typer.Option(help="One line per request (no body, no query string).")] = True,
) -> None:
    """Serve the API, the webhooks and the review pages."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from app import db, logs

    settings = _settings()
    if migrate:
        db.upgrade(settings)
    else:
        _require_database(settings)
    if workers > 1 and settings.is_sqlite:
        typer.echo(
            "warning: " + _say("several workers on SQLite share one writer; use PostgreSQL to scale"),
            err=True,
        )
    if workers > 1 or settings.intake_process:
        # several processes (workers, intake children) count into one /metrics
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="relais-metrics-"))
    intake = None
    if workers > 1 and settings.intake_process and not settings.intake_socket:
        # one intake process for every worker of this machine (see IntakeServer)
        from app.intake.process import IntakeServer

        intake = IntakeServer(settings).start()
        os.environ["RELAIS_INTAKE_SOCKET"] = intake.path
    signal.signal(signal.SIGTERM, _stop_cleanly)
    signal.signal(signal.SIGINT, _stop_cleanly)
    config = uvicorn.Config(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=logs.uvicorn_config(log_level),
        log_level=None,
        access_log=access_log,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )
    address = f"http://{host if ':' not in host else f'[{host}]'}:{port}"

    def up() -> None:
        logs.started(url=address, database_url=settings.database_url, models_dir=settings.models_dir)

    try:
        if workers > 1:
            sock = config.bind_socket()
            up()
            Multiprocess(config, sockets=[sock]).run()
        else:
            server = _announcing_server(config, on_started=up)
            server.run()
            if not server.started:
                raise typer.Exit(3)  # uvicorn's status when it cannot start (the port is taken, ...)
    finally:
        if intake is not None:
            intake.stop()


def _announcing_server(config: Any, on_started: Callable[[], None]) -> Any:
    """uvicorn's server, saying once that it is up: after the port is bound and the app started."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                on_started()

        def _log_started_message(self, listeners: Sequence[socket.SocketType]) -> None:
            pass  # `on_started` says it, with the database and the model

    return Server(config)


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Send what is due, then exit.")] = False,
) -> None:
    """Send approved replies (the outbox) as a separate process; run several to scale."""
    from app.outbox.sender import run_worker

    signal.signal(signal.SIGTERM, _stop_cleanly)  # until the sender installs its own handlers
    signal.signal(signal.SIGINT, _stop_cleanly)
    settings = _settings()
    _require_database(settings)
    run_worker(settings, once=once)


def _require_database(settings: Settings) -> None:
    """Fail now, with a message, if the database cannot be reached (rather than retry forever)."""
    from app import db

    engine = db.make_engine(settings)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    finally:
        engine.dispose()


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    from app import db

    db.upgrade(_settings(), revision)
    typer.echo(_say("database up to date"))


def _session() -> tuple[Engine, sessionmaker[Session]]:
    from app import db

    settings = _settings()
    db.upgrade(settings)
    engine = db.make_engine(settings)
    return engine, db.make_sessionmaker(engine)


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option(help="reviewer or admin")] = "reviewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read a password from stdin.")
    ] = False,
) -> None:
    """Create a user; prints its API token as the last line."""
    from app import db
    from app.errors import RelaisError
    from app.users import service as users

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    engine, factory = _session()
    try:
        with db.transaction(factory) as session:
            user, token = users.create(session, name=name, role=role, password=password)
    except RelaisError as e:
        _fail(e.message)
    finally:
        engine.dispose()
    if password:
        typer.echo(_say("created %(role)s %(name)s with a password", role=role, name=repr(name)), err=True)
    else:
        typer.echo(_say("created %(role)s %(name)s", role=role, name=repr(name)), err=True)
    typer.echo(token)


def _answers_format(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("json", "csv"):
        _fail(_say("%(path)s: the file name ends in .json or .csv", path=str(path)))
    return fmt


@answers_app.command("import")
def answers_import(path: Path) -> None:
    """Add the answers of a JSON or CSV file (by its extension); an answer of the same title and
    language is changed. One bad row and nothing is written."""
    from app import db
    from app.answers import service as answers
    from app.errors import RelaisError

    fmt = _answers_format(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        _fail(f"{path}: {e.__class__.__name__}")
    engine, factory = _session()
    try:
        with db.transaction(factory) as session:
            created, changed = answers.import_text(
                session, _settings(), text, fmt=fmt, user_id=None, language=_language()
            )
    except RelaisError as e:
        rows = e.detail.get("errors") if isinstance(e.detail, dict) else None
        _fail("\n".join(rows) if rows else e.message)
    finally:
        engine.dispose()
    typer.echo(_say("%(created)s answers added, %(changed)s changed", created=created, changed=changed))


@answers_app.command("export")
def answers_export(path: Path) -> None:
    """Write every answer to a JSON or CSV file (by its extension), in the import format."""
    from app.answers import service as answers

    fmt = _answers_format(path)
    engine, factory = _session()
    try:
        with factory() as session:
            rows = answers.export_rows(answers.list_all(session))
    finally:
        engine.dispose()
    try:
        path.write_text(answers.to_csv(rows) if fmt == "csv" else answers.to_json(rows), encoding="utf-8")
    except OSError as e:
        _fail(f"{path}: {e.__class__.__name__}")
    typer.echo(_say("%(count)s answers written to %(path)s", count=len(rows), path=str(path)))


@users_app.command("passwd")
def users_passwd(name: str) -> None:
    """Set a user's password, read from stdin."""
    from app import db
    from app.errors import RelaisError
    from app.users import service as users

    password = sys.stdin.readline().rstrip("\n")
    engine, factory = _session()
    try:
        with db.transaction(factory) as session:
            users.set_password(session, name=name, password=password)
    except RelaisError as e:
        _fail(e.message)
    finally:
        engine.dispose()
    typer.echo(_say("password of %(name)s changed", name=repr(name)))


@users_app.command("token")
def users_token(name: str) -> None:
    """Issue a new API token for an existing user (printed as the last line)."""
    from app import db
    from app.errors import RelaisError
    from app.users import service as users

    engine, factory = _session()
    try:
        with db.transaction(factory) as session:
            token = users.add_token(session, users.by_name(session, name))
    except RelaisError as e:
        _fail(e.message)
    finally:
        engine.dispose()
    typer.echo(token)


@users_app.command("list")
def users_list() -> None:
    """List users and their roles."""
    from app import db
    from app.users import service as users

    engine, factory = _session()
    try:
        with db.transaction(factory) as session:
            for u in users.list_users(session):
                kind = _say("password") if u.password_hash else _say("token only")
                typer.echo(f"{u.name}\t{u.role}\t{kind}")
    finally:
        engine.dispose()


@app.command()
def classify(
    batch_size: Annotated[int, typer.Option(help="Lines per classifier call.")] = 4096,
    fast: Annotated[
        bool, typer.Option("--fast", help="The intake's category alone, without the refine pass's encoder.")
    ] = False,
) -> None:
    """Classify one message per line of stdin; one JSON object per line on stdout, in order."""
    from classifier.commands import classify_stream

    settings = _settings()
    classify_stream(
        settings.models_dir, sys.stdin, sys.stdout, batch_size=batch_size, refine=settings.refine and not fast
    )


@app.command()
def evaluate(
    path: Path,
    fast: Annotated[
        bool, typer.Option("--fast", help="The intake's category alone, without the refine pass's encoder.")
    ] = False,
) -> None:
    """Report precision/recall/F1, confusion matrix and calibration on a CSV with columns text,label."""
    from classifier.commands import evaluate_command

    settings = _settings()
    typer.echo(evaluate_command(settings.models_dir, path, refine=settings.refine and not fast))


@app.command()
def train(
    force: Annotated[bool, typer.Option(help="Promote even if not better.")] = False,
    no_promote: Annotated[bool, typer.Option("--no-promote", help="Save the version only.")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="Training data folder.")] = None,  # noqa: UP007
    if_new_corrections: Annotated[
        int, typer.Option(help="Do nothing unless N corrections are newer than any version's training.")
    ] = 0,
    corrections: Annotated[bool, typer.Option(help="Learn from the reviewers' corrections.")] = True,
) -> None:
    """Retrain on the shipped data and the reviewers' corrections; promote only if not worse."""
    from app.learning import Feedback, feedback
    from classifier.commands import train_command

    settings = _settings()
    found = feedback(settings, if_new=if_new_corrections) if corrections else Feedback()
    if found is None:
        typer.echo(
            _say(
                "fewer than %(n)s corrections newer than the last trained on: nothing to do",
                n=if_new_corrections,
            )
        )
        return
    if corrections:
        typer.echo(
            _say(
                "from the reviewers: %(corrections)s corrected messages, %(confirmations)s approved "
                "replies confirming their category, %(suspect)s rejected or heavily edited left out; "
                "the text of the %(received)s latest received messages (no labels) for the domain "
                "gate; the domain judged on the reviewed stretch of the traffic: %(judged)s sorted "
                "messages, %(decided)s of them decided by a reviewer, the others left as sorted",
                corrections=found.corrections,
                confirmations=found.confirmations,
                suspect=found.suspect,
                received=len(found.received),
                judged=len(found.judged),
                decided=found.judged_decided,
            )
        )
    root = Path(__file__).resolve().parent.parent
    version, promoted, report = train_command(
        settings.models_dir,
        data_dir or root / "data",
        extra=found.examples,
        received=found.received,
        judged=found.judged,
        force=force,
        promote=not no_promote,
        provenance=found.provenance() if corrections else None,
        refine=settings.refine,
    )
    typer.echo(report)
    if promoted:
        typer.echo(_say("version %(version)s: promoted", version=version))
    else:
        typer.echo(_say("version %(version)s: not promoted", version=version))


@models_app.command("list")
def models_list() -> None:
    """Every trained version, oldest first, with its held-out metrics; * marks the promoted one."""
    from classifier import artifacts

    settings = _settings()
    versions = artifacts.list_versions(settings.models_dir)
    if not versions:
        typer.echo(_say("no model versions in %(folder)s", folder=settings.models_dir))
        return
    for v in versions:
        meta = artifacts.read_metadata(settings.models_dir, v["version"])
        metrics = meta.get("metrics") or {}
        macro, accuracy = metrics.get("macro_f1"), metrics.get("accuracy")
        per_class = " ".join(f"{k}={f:.3f}" for k, f in (metrics.get("per_class_f1") or {}).items())
        held = metrics.get("corrections")
        corrections = (
            f"\tcorrections {held['rows']} held out: accuracy {held['accuracy']:.3f}" if held else ""
        )
        on_domain = metrics.get("domain")
        if on_domain:
            corrections += f"\tdomain {on_domain['rows']} held out: macro-F1 {on_domain['macro_f1']:.3f}"
        if ((meta.get("promotion") or {}).get("domain") or {}).get("judged") is False:
            corrections += (
                " (too few to judge the domain)" if on_domain else "\tdomain: no held-out rows to judge"
            )
        typer.echo(
            f"{'*' if v['current'] else ' '} {v['version']}\t"
            f"macro-F1 {f'{macro:.3f}' if macro is not None else '?'}\t"
            f"accuracy {f'{accuracy:.3f}' if accuracy is not None else '?'}\t"
            f"{per_class or 'no per-class F1'}{corrections}\t"
            f"{v.get('train_rows', '?')} training rows\t{v.get('created_at') or ''}"
        )


@models_app.command("use")
def models_use(version: str) -> None:
    """Promote VERSION (roll back or forward); running services pick it up without a restart."""
    from classifier import artifacts

    settings = _settings()
    try:
        artifacts.load_version(settings.models_dir, version)
    except Exception as e:  # noqa: BLE001 - report any reason the artifact cannot load
        _fail(_say("cannot use %(version)s: %(reason)s", version=version, reason=e))
    artifacts.promote(settings.models_dir, version)
    typer.echo(_say("%(version)s is now the current model", version=version))


def _reason(e: BaseException) -> str | None:
    """The one-line message for an expected failure, or None for a bug."""
    from alembic.util.exc import CommandError
    from pydantic import ValidationError
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

    from app.errors import RelaisError

    if isinstance(e, RelaisError):
        return e.message
    if isinstance(e, ValidationError):  # the settings: name the variable, never echo its value
        fields = ", ".join(
            f"RELAIS_{'_'.join(str(p) for p in err['loc']).upper()} ({err['msg']})" for err in e.errors()
        )
        return _say("invalid settings: %(fields)s", fields=fields)
    if isinstance(e, ArgumentError | NoSuchModuleError):
        return _say(
            "RELAIS_DATABASE_URL is not a database URL Relais can use (sqlite:///... or postgresql://...)"
        )
    if isinstance(e, OperationalError | DBAPIError):
        first = str(e.orig if e.orig is not None else e).strip().splitlines()
        return _say(
            "the database is unavailable: %(reason)s", reason=first[0] if first else e.__class__.__name__
        )
    if isinstance(e, CommandError):
        return _say("migrations: %(reason)s", reason=e)
    if isinstance(e, OSError | ValueError):
        return str(e)
    return None


def main() -> None:
    """Run the command line; see the module docstring for the exit statuses."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo(_say("interrupted"), err=True)
        sys.exit(130)
    except Exception as e:
        reason = _reason(e)
        if reason is None:
            traceback.print_exc()
            reason = _say("unexpected %(error)s (a bug: the traceback is above)", error=e.__class__.__name__)
        typer.echo(f"error: {reason}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
