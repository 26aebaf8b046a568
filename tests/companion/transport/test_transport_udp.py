"""UDP server and client over 127.0.0.1."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from companion.transport import (
    MAX_DATAGRAM,
    Transport,
    TransportClosed,
    UdpClientTransport,
    UdpServerTransport,
    open_udp_bind,
    open_udp_connect,
)

LIMIT = 10


async def receive(transport: UdpServerTransport | UdpClientTransport) -> bytes:
    with trio.fail_after(LIMIT):
        return await transport.receive()


async def free_port() -> int:
    async with open_udp_bind("127.0.0.1", 0) as probe:
        port: int = probe.local_address[1]
    return port


async def test_round_trip_keeps_datagram_boundaries() -> None:
    async with (
        open_udp_bind("127.0.0.1", 0) as server,
        open_udp_connect("127.0.0.1", server.local_address[1]) as client,
    ):
        transports: list[Transport] = [server, client]
        assert all(t.is_datagram for t in transports)
        await client.send(b"one")
        await client.send(b"two")
        assert await receive(server) == b"one"
        assert await receive(server) == b"two"
        assert server.peer == client.local_address
        await server.send(b"three")
        assert await receive(client) == b"three"
        assert server.stats.datagrams_in == 2
        assert client.stats.datagrams_in == 1


async def test_largest_datagram_arrives_whole() -> None:
    largest_ipv4_payload = MAX_DATAGRAM - 20 - 8  # minus IPv4 and UDP headers
    payload = bytes(n % 256 for n in range(largest_ipv4_payload))
    async with (
        open_udp_bind("127.0.0.1", 0) as server,
        open_udp_connect("127.0.0.1", server.local_address[1]) as client,
    ):
        await client.send(payload)
        assert await receive(server) == payload


async def test_server_replies_to_the_most_recent_sender() -> None:
    async with open_udp_bind("127.0.0.1", 0) as server:
        port = server.local_address[1]
        async with (
            open_udp_connect("127.0.0.1", port) as gcs_a,
            open_udp_connect("127.0.0.1", port) as gcs_b,
        ):
            await gcs_a.send(b"a1")
            assert await receive(server) == b"a1"
            await server.send(b"to a")
            assert await receive(gcs_a) == b"to a"

            await gcs_b.send(b"b1")
            assert await receive(server) == b"b1"
            await server.send(b"to b")
            assert await receive(gcs_b) == b"to b"

            # Had "to b" gone to A, it would be queued ahead of "to a again".
            await gcs_a.send(b"a2")
            assert await receive(server) == b"a2"
            await server.send(b"to a again")
            assert await receive(gcs_a) == b"to a again"


async def test_explicit_send_to_reaches_any_address() -> None:
    async with open_udp_bind("127.0.0.1", 0) as server, open_udp_bind("127.0.0.1", 0) as other:
        await server.send_to(b"hi", other.local_address)
        assert await receive(other) == b"hi"
        assert server.peer is None


async def test_server_without_a_peer_drops_and_counts() -> None:
    async with open_udp_bind("127.0.0.1", 0) as server:
        await server.send(b"nobody listens")
        assert server.stats.unaddressed == 1
        assert server.stats.datagrams_out == 0


async def test_client_survives_sending_to_a_closed_port() -> None:
    port = await free_port()
    async with open_udp_connect("127.0.0.1", port) as client, trio.open_nursery() as nursery:
        replies: list[bytes] = []

        async def listen() -> None:
            replies.append(await client.receive())

        nursery.start_soon(listen)
        # Linux reports the ICMP port-unreachable on the next call on the socket.
        with trio.fail_after(LIMIT):
            while client.stats.refused < 2:
                await client.send(b"anyone?")
                await trio.sleep(0.005)
        async with open_udp_bind("127.0.0.1", port) as server:
            await client.send(b"now?")
            with trio.fail_after(LIMIT):
                while (await server.receive()) != b"now?":
                    pass
            await server.send(b"yes")
            with trio.fail_after(LIMIT):
                while not replies:
                    await trio.sleep(0.005)
        assert replies == [b"yes"]


async def test_server_survives_sending_to_a_closed_port() -> None:
    port = await free_port()
    async with open_udp_bind("127.0.0.1", 0) as server:
        for _ in range(3):
            await server.send_to(b"anyone?", ("127.0.0.1", port))
        async with open_udp_connect("127.0.0.1", server.local_address[1]) as client:
            await client.send(b"still here")
            assert await receive(server) == b"still here"


async def test_closed_endpoint_raises_transport_closed() -> None:
    async with open_udp_bind("127.0.0.1", 0) as server, trio.open_nursery() as nursery:

        async def blocked_receive() -> None:
            with pytest.raises(TransportClosed):
                await server.receive()

        nursery.start_soon(blocked_receive)
        await trio.testing.wait_all_tasks_blocked()
        await server.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await server.send_to(b"x", ("127.0.0.1", 9))
    with pytest.raises(TransportClosed):
        await server.send(b"x")


async def test_a_sender_changing_port_each_datagram_writes_a_log_line_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with open_udp_bind("127.0.0.1", 0) as server:
        with caplog.at_level("INFO", logger="companion.transport.udp"):
            for _ in range(50):
                async with open_udp_connect("127.0.0.1", server.local_address[1]) as client:
                    await client.send(b"x")
                    await receive(server)
                    assert server.peer == client.local_address, "each is still answered"
    peer_lines = [r.getMessage() for r in caplog.records if "udp_peer" in r.getMessage()]
    assert len(peer_lines) == 1, peer_lines
