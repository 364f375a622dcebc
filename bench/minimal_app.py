"""A FastAPI app with one trivial POST route: the submit benchmark's yardstick.

It measures how many requests this machine serves at this moment through the same stack
(uvicorn, httptools, uvloop, FastAPI, pydantic) with no work behind the route, so that the
submit rate can be read against it: the VM this project runs on changes speed by up to 2x
from one quarter of an hour to the next.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel


class Body(BaseModel):
    source_code: str


app = FastAPI()


@app.post("/execute")
async def execute(body: Body) -> JSONResponse:
    return JSONResponse({"job_id": "0", "status": "PENDING"}, status_code=202)
