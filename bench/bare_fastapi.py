"""The physical limit of the web layer: a FastAPI endpoint that only reads the body and answers."""

from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/webhooks/meta")
async def hook(request: Request) -> Response:
    await request.body()
    return Response(status_code=200)


@app.get("/healthz")
async def healthz() -> dict[str, bool]:
    return {"ok": True}
