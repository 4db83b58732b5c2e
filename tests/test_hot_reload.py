"""A newly promoted model is picked up by running services without a restart and without a failed
request: in-process under concurrent deliveries, and in every worker process of `relais serve`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.main import create_app
from app.models import Message
from bench.processes import stop
from classifier import artifacts
from tests.conftest import ROOT, fb_comment, make_settings, meta_headers
from tests.intake.test_scale_out import free_port, wait_healthy


def twin_models(tmp: Path) -> tuple[Path, str, str]:
    """A models folder with the shipped model under two version names (same weights)."""
    shipped = Settings().models_dir
    current = artifacts.current_version(shipped)
    assert current is not None, "the repository must ship a trained model"
    models = tmp / "models"
    models.mkdir()
    first, second = current, "29991231-235959-feedbeef"
    shutil.copytree(shipped / first, models / first)
    shutil.copytree(shipped / first, models / second)
    meta_path = models / second / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["version"] = second
    meta_path.write_text(json.dumps(meta))
    artifacts.promote(models, first)
    return models, first, second


def test_promotion_swaps_the_model_under_concurrent_requests(sqlite_url: str, tmp_path: Path) -> None:
    models, first, second = twin_models(tmp_path)
    settings = make_settings(sqlite_url, models_dir=models, model_reload_interval_s=0.05)
    codes: list[int] = []
    stop_flag = threading.Event()
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json()["model_version"] == first

        def hammer(k: int) -> None:
            i = 0
            while not stop_flag.is_set():
                body = fb_comment(f"hr_{k}_{i}", "Ma commande n'est pas arrivée, c'est inadmissible")
                codes.append(
                    client.post("/webhooks/meta", content=body, headers=meta_headers(body)).status_code
                )
                i += 1

        threads = [threading.Thread(target=hammer, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        artifacts.promote(models, second)
        deadline = time.time() + 10
        while client.get("/healthz").json()["model_version"] != second and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        stop_flag.set()
        for t in threads:
            t.join()
        assert client.get("/healthz").json()["model_version"] == second
    assert codes and set(codes) == {200}
    engine = create_engine(sqlite_url)
    with Session(engine) as s:
        versions = [v for (v,) in s.execute(select(Message.model_version).order_by(Message.id))]
    engine.dispose()
    assert set(versions) == {first, second}
    # once the new version appears, no later message was classified by the old one
    switch = versions.index(second)
    assert set(versions[switch:]) == {second}


def test_a_broken_promotion_keeps_the_current_model(sqlite_url: str, tmp_path: Path) -> None:
    models, first, _ = twin_models(tmp_path)
    broken = "29991231-235958-deadbeef"
    (models / broken).mkdir()
    (models / broken / "metadata.json").write_text(
        json.dumps({"version": broken, "libraries": {"sklearn": "0.1"}})
    )
    (models / broken / "model.skops").write_bytes(b"not a model")
    settings = make_settings(sqlite_url, models_dir=models)
    with TestClient(create_app(settings)) as client:
        (models / "CURRENT").write_text(broken + "\n")
        assert client.app.state.holder.reload() is False
        assert client.get("/healthz").json()["model_version"] == first
        body = fb_comment("still_ok", "Vous livrez en Belgique ?")
        assert client.post("/webhooks/meta", content=body, headers=meta_headers(body)).status_code == 200


@pytest.mark.slow
def test_every_worker_process_follows_a_promotion(pg_url: str, tmp_path: Path) -> None:
    models, first, second = twin_models(tmp_path)
    port = free_port()
    env = {
        **os.environ,
        "RELAIS_DATABASE_URL": pg_url,
        "RELAIS_MODELS_DIR": str(models),
        "RELAIS_MODEL_RELOAD_INTERVAL_S": "0.2",
        "RELAIS_OUTBOX_IN_PROCESS": "false",
    }
    relais = str(Path(sys.executable).parent / "relais")
    proc = subprocess.Popen(
        [relais, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        artifacts.promote(models, second)
        time.sleep(1.5)
        seen = set()
        for _ in range(60):  # new connections are spread over both workers
            with httpx.Client() as c:
                r = c.get(url + "/healthz")
                assert r.status_code == 200
                seen.add((r.json()["model_version"], r.json()["pid"]))
        assert {v for v, _ in seen} == {second}
        assert len({pid for _, pid in seen}) == 2, "both worker processes answered"
    finally:
        stop(proc)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="malloc_trim is glibc's",
)
def test_a_reload_gives_freed_memory_back_on_glibc(tmp_path: Path) -> None:
    """After a swap the C allocator's free pages go back to the system (bench/reload_memory.py
    measures what that saves); on glibc the function must be found, or the saving silently goes."""
    from app import triage

    assert triage._TRIM is not None
    models, first, second = twin_models(tmp_path)
    holder = triage.ModelHolder(models, 0.5)
    assert holder.version == first
    artifacts.promote(models, second)
    assert holder.reload() is True
    assert holder.version == second
    assert holder.classify(["Ma commande n'est pas arrivée"])[0].category is not None
