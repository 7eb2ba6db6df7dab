using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// A minimal QMP client (QEMU Machine Protocol: one JSON object per line) on the machine's Unix socket: the greeting,
/// <c>qmp_capabilities</c>, then synchronous commands whose <c>return</c> is handed back (asynchronous
/// <c>event</c> lines are skipped). Used for what qtest cannot see: <c>x-query-virtio-status</c> (<c>broken</c>) and
/// <c>x-query-virtio-queue-status</c> (<c>inuse</c>: requests popped and not yet pushed, so 0 means QEMU's
/// asynchronous block I/O has finished).
/// </summary>
internal sealed class QmpClient : IDisposable
{
    private readonly Socket _socket;
    private readonly TimeSpan _timeout;
    private byte[] _receive = new byte[64 * 1024];
    private int _start;
    private int _end;

    private QmpClient(Socket socket, TimeSpan timeout)
    {
        _socket = socket;
        _timeout = timeout;
    }

    /// <summary>Connects (retrying while QEMU creates the socket, up to <paramref name="timeout"/>) and
    /// negotiates.</summary>
    public static QmpClient Connect(string path, TimeSpan timeout, Func<bool> qemuAlive)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                socket.Connect(new UnixDomainSocketEndPoint(path));
                socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
                var client = new QmpClient(socket, timeout);
                client.ReadObject(); // greeting
                client.Execute("{\"execute\":\"qmp_capabilities\"}");
                return client;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && qemuAlive())
            {
                socket.Dispose();
                Thread.Sleep(5);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                throw new QemuDiedException($"QMP socket {path} did not open: {e.Message}");
            }
        }
    }

    /// <summary>Sends one command and returns its <c>return</c> member (a clone).</summary>
    public JsonElement Execute(string json)
    {
        try
        {
            _socket.Send(Encoding.UTF8.GetBytes(json + "\n"));
        }
        catch (SocketException e)
        {
            throw new QemuDiedException("QMP socket closed: " + e.Message);
        }
        while (true)
        {
            using JsonDocument doc = ReadObject();
            if (doc.RootElement.TryGetProperty("return", out JsonElement ret))
                return ret.Clone();
            if (doc.RootElement.TryGetProperty("error", out JsonElement err))
                throw new InvalidOperationException($"QMP refused {json}: {err}");
        }
    }

    /// <summary>x-query-virtio-queue-status's <c>inuse</c> for queue <paramref name="queue"/>.</summary>
    public long QueueInUse(string path, int queue) =>
        Execute(
                "{\"execute\":\"x-query-virtio-queue-status\","
                    + $"\"arguments\":{{\"path\":\"{path}\",\"queue\":{queue}}}}}"
            )
            .GetProperty("inuse")
            .GetInt64();

    /// <summary>x-query-virtio-status's <c>broken</c>.</summary>
    public bool Broken(string path) =>
        Execute($"{{\"execute\":\"x-query-virtio-status\",\"arguments\":{{\"path\":\"{path}\"}}}}")
            .GetProperty("broken")
            .GetBoolean();

    private JsonDocument ReadObject()
    {
        while (true)
        {
            int newline = _receive.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var doc = JsonDocument.Parse(_receive.AsMemory(_start, newline));
                _start += newline + 1;
                return doc;
            }
            if (_start > 0)
            {
                _receive.AsSpan(_start, _end - _start).CopyTo(_receive);
                _end -= _start;
                _start = 0;
            }
            if (_end == _receive.Length)
                Array.Resize(ref _receive, _receive.Length * 2);
            int n;
            try
            {
                n = _socket.Receive(_receive, _end, _receive.Length - _end, SocketFlags.None);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
            {
                throw new QemuHangException($"QEMU did not answer QMP within {_timeout.TotalMilliseconds:0} ms");
            }
            catch (SocketException e)
            {
                throw new QemuDiedException("QMP socket failed: " + e.Message);
            }
            if (n == 0)
                throw new QemuDiedException("QEMU closed its QMP socket (it exited)");
            _end += n;
        }
    }

    public void Dispose() => _socket.Dispose();
}
