"""A REST aggregator in Python asyncio, the peer issue 12 first measured the
gateway beside: aiohttp in, grpc.aio out, json_format between, the two
routes peers.sh drives.

  GET /v1/lab/echo?message=hi   one Lab/Echo, its answer as JSON
  GET /v1/lab/fanout            Lab/Echo "a", "b" and "c" with
                                asyncio.gather: {"a": {...}, "b": ..., "c": ...}

JSON as the gateway writes it (lowerCamelCase, unpopulated fields printed),
a 5 s deadline per call, 502 naming the failed part. One channel to the
backend. The lab's messages come from `protoc --python_out` (peers.sh runs
it into the directory this file is run from).

  python3 rest_fanout.py 127.0.0.1:8080 127.0.0.1:50051
"""
import asyncio
import json
import sys

import grpc
from aiohttp import web
from google.protobuf import json_format

from fanout.lab.v1 import lab_pb2

METHOD = "/fanout.lab.v1.Lab/Echo"


def to_json(reply):
    return json_format.MessageToDict(reply, including_default_value_fields=True)


def bad_gateway(part, error):
    return web.json_response(
        {"code": 502, "message": f"{part}: {error.code().name}: {error.details()}"}, status=502)


async def main(listen, backend):
    channel = grpc.aio.insecure_channel(backend)
    echo = channel.unary_unary(METHOD, request_serializer=lab_pb2.EchoRequest.SerializeToString,
                               response_deserializer=lab_pb2.EchoResponse.FromString)

    async def one(request):
        try:
            reply = await echo(lab_pb2.EchoRequest(message=request.query.get("message", "")),
                               timeout=5)
        except grpc.aio.AioRpcError as error:
            return bad_gateway("echo", error)
        return web.json_response(to_json(reply))

    async def fanout(request):
        names = ("a", "b", "c")
        replies = await asyncio.gather(
            *(echo(lab_pb2.EchoRequest(message=name), timeout=5) for name in names),
            return_exceptions=True)
        for name, reply in zip(names, replies):
            if isinstance(reply, grpc.aio.AioRpcError):
                return bad_gateway(name, reply)
            if isinstance(reply, BaseException):
                raise reply
        return web.json_response({name: to_json(reply) for name, reply in zip(names, replies)})

    app = web.Application()
    app.router.add_get("/v1/lab/echo", one)
    app.router.add_get("/v1/lab/fanout", fanout)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, port = listen.rsplit(":", 1)
    await web.TCPSite(runner, host, int(port)).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
