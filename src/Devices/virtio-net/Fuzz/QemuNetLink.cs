using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// Our end of the link behind QEMU's virtio-net-pci (docs/qemu-backend.md): a UDP socket on 127.0.0.1 that QEMU's
/// <c>-netdev socket,udp=…,localaddr=…</c> backend sends every transmitted frame to (one datagram per frame, no
/// vnet header: the socket backend has none, so QEMU strips the guest's 12-byte virtio_net_hdr) and receives every
/// frame we inject from. Nothing leaves the machine.
/// <para>QEMU's port is chosen by binding a probe socket to port 0 and closing it before QEMU starts (a short race
/// with another process taking the port; QEMU then fails to start and the caller sees it die).</para>
/// </summary>
internal sealed class QemuNetLink : IDisposable
{
    /// <summary>Largest UDP payload over IPv4: the longest frame the link carries.</summary>
    public const int DatagramBytesMax = 65507;

    private readonly Socket _socket;
    private readonly IPEndPoint _qemu;
    private readonly byte[] _buffer = new byte[DatagramBytesMax];

    private QemuNetLink(Socket socket, int qemuPort)
    {
        _socket = socket;
        _qemu = new IPEndPoint(IPAddress.Loopback, qemuPort);
    }

    /// <summary>Binds our socket and picks QEMU's port.</summary>
    public static QemuNetLink Open()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return new QemuNetLink(socket, ((IPEndPoint)probe.LocalEndPoint!).Port);
    }

    /// <summary>Our port: where QEMU sends.</summary>
    public int HostPort => ((IPEndPoint)_socket.LocalEndPoint!).Port;

    /// <summary>QEMU's port: where we send.</summary>
    public int QemuPort => _qemu.Port;

    /// <summary>The <c>-netdev</c> value for QEMU (id <c>n0</c>).</summary>
    public string Netdev =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"socket,id=n0,udp=127.0.0.1:{HostPort},localaddr=127.0.0.1:{QemuPort}"
        );

    /// <summary>A frame towards the guest: QEMU's socket backend reads it and offers it to
    /// virtio_net_receive.</summary>
    public void Inject(ReadOnlySpan<byte> frame)
    {
        _socket.SendTo(frame, SocketFlags.None, _qemu);
        Injected?.Invoke(frame.ToArray());
    }

    /// <summary>When set, told every frame <see cref="Inject"/> sent (the net reproducer records them).</summary>
    public Action<byte[]>? Injected { get; set; }

    /// <summary>The next frame QEMU sent, waiting at most <paramref name="wait"/>; null when none came. Datagrams
    /// from anywhere but QEMU's port are skipped.</summary>
    public byte[]? Receive(TimeSpan wait)
    {
        for (int n = 0; n < ForeignDatagramsMax; n++)
        {
            if (!_socket.Poll(wait, SelectMode.SelectRead))
                return null;
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            int length = _socket.ReceiveFrom(_buffer, ref from);
            if (((IPEndPoint)from).Port == QemuPort)
                return _buffer.AsSpan(0, length).ToArray();
        }
        return null;
    }

    /// <summary>Datagrams from elsewhere one <see cref="Receive"/> skips at most.</summary>
    public const int ForeignDatagramsMax = 16;

    public void Dispose() => _socket.Dispose();
}
