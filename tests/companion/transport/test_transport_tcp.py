"""TCP client against a real trio TCP server on 127.0.0.1, as against SITL on 5760."""

from __future__ import annotations

from collections.abc import Callable

import trio

from companion.transport import (
    Backoff,
    ConnectionState,
    ReconnectingStream,
    Transport,
    open_tcp_client,
)

FAST = Backoff(initial=0.01, maximum=0.2)
LIMIT = 10


async def listen(port: int = 0) -> trio.SocketListener:
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
    return listeners[0]


def port_of(listener: trio.SocketListener) -> int:
    port: int = listener.socket.getsockname()[1]
    return port


async def free_port() -> int:
    listener = await listen()
    port = port_of(listener)
    await listener.aclose()
    return port


async def read_exactly(stream: trio.abc.ReceiveStream, count: int) -> bytes:
    data = bytearray()
    with trio.fail_after(LIMIT):
        while len(data) < count:
            chunk = await stream.receive_some()
            assert chunk, "server side saw end of stream"
            data += chunk
    return bytes(data)


async def receive_exactly(client: ReconnectingStream, count: int) -> bytes:
    data = bytearray()
    with trio.fail_after(LIMIT):
        while len(data) < count:
            data += await client.receive()
    return bytes(data)


async def accept(listener: trio.SocketListener) -> trio.SocketStream:
    with trio.fail_after(LIMIT):
        return await listener.accept()


async def wait_until(condition: Callable[[], bool]) -> None:
    with trio.fail_after(LIMIT):
        while not condition():
            await trio.sleep(0.005)


async def test_round_trip() -> None:
    listener = await listen()
    async with listener, open_tcp_client("127.0.0.1", port_of(listener), backoff=FAST) as client:
        transport: Transport = client
        assert transport.is_datagram is False
        server = await accept(listener)
        async with server:
            await transport.send(b"\xfd\x09heartbeat")
            assert await read_exactly(server, 11) == b"\xfd\x09heartbeat"
            await server.send_all(b"reply")
            assert await receive_exactly(client, 5) == b"reply"


async def test_frames_sent_while_the_server_is_gone_arrive_after_reconnect() -> None:
    listener = await listen()
    port = port_of(listener)
    async with open_tcp_client("127.0.0.1", port, backoff=FAST) as client:
        async with listener, await accept(listener) as server:
            await client.send(b"first;")
            assert await read_exactly(server, 6) == b"first;"
            # SITL restarting: the connection drops and the port refuses for a while.
            await listener.aclose()
        with trio.fail_after(LIMIT):
            await client.wait_state(ConnectionState.DISCONNECTED)
        for n in range(3):
            await client.send(b"queued-%d;" % n)
        await wait_until(lambda: client.stats.open_failures >= 1)
        assert client.stats.frames_queued == 3

        listener = await listen(port)
        async with listener:
            server = await accept(listener)
            async with server:
                expected = b"queued-0;queued-1;queued-2;"
                assert await read_exactly(server, len(expected)) == expected
                await server.send_all(b"back")
                assert await receive_exactly(client, 4) == b"back"
        assert client.stats.reopens == 1


async def test_refused_connection_is_retried() -> None:
    port = await free_port()
    async with open_tcp_client("127.0.0.1", port, backoff=FAST) as client:
        await client.send(b"hello")
        await wait_until(lambda: client.stats.open_failures >= 2)
        assert client.state is ConnectionState.DISCONNECTED
        listener = await listen(port)
        async with listener:
            server = await accept(listener)
            async with server:
                assert await read_exactly(server, 5) == b"hello"
                with trio.fail_after(LIMIT):
                    await client.wait_connected()


async def test_silent_server_counts_as_a_failed_attempt() -> None:
    # A listener whose accept queue is full drops further SYNs: the client's
    # connect hangs, as it would towards a host that is down.
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    with listener:
        async with (
            await trio.open_tcp_stream("127.0.0.1", port),
            open_tcp_client("127.0.0.1", port, backoff=FAST, connect_timeout=0.05) as client,
        ):
            await client.send(b"hello")
            await wait_until(lambda: client.stats.open_failures >= 2)
            assert client.state is ConnectionState.DISCONNECTED

            filler, _ = await listener.accept()
            filler.close()
            with trio.fail_after(LIMIT):
                server, _ = await listener.accept()
            async with trio.SocketStream(server) as stream:
                assert await read_exactly(stream, 5) == b"hello"
