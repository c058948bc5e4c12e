"""The yardstick for `bench_api.py`: a bare FastAPI route returning a 4-field model.

No middleware, no database, no authentication: what one uvicorn process of this
machine serves when the framework alone does the work. Served with
`uvicorn benchmarks.bare_app:app` from the checkout's root.
"""

from __future__ import annotations

from fastapi import FastAPI  # noqa: TID251 - the yardstick is FastAPI alone
from pydantic import BaseModel


class Item(BaseModel):
    id: int
    name: str
    kind: str
    active: bool


app = FastAPI()


@app.get("/items/{item_id}", response_model=Item)
async def read_item(item_id: int) -> Item:
    return Item(id=item_id, name="community health centre", kind="community", active=True)
