// yibao 的 C# 客户端示例（.NET Framework 4.5+ / .NET 6+，无第三方依赖）
// A C# client for the yibao broker (.NET Framework 4.5+ or .NET 6+, no dependencies).
//
// Speaks the pipe's JSON frames (proto/README.md): 4-byte little-endian length, the byte
// 'J', then UTF-8 JSON. Returns the broker's answer as JSON text; parse it with the JSON
// library the HIS already uses (Newtonsoft.Json, System.Text.Json, ...).
//
//   var c = new YibaoClient();                                   // pipe "yibao"
//   string outcome = c.CallSync("1101", "{\"data\":{...}}", 30);  // {"Outcome":{...}}
//   string accepted = c.CallAsync("2207", "{\"data\":{...}}");    // {"Accepted":{"request_id":42}}
//   string now = c.GetResult(42);                                 // {"Outcome":{...}}, never waits
//   string done = c.WaitForResult(42, 30);                        // {"Outcome":{...}}
//   string check = c.Validate("2207", "{\"data\":{...}}");        // {"Validation":{"ok":false,"problems":[...]}}
//
// Not compiled or run by CI (no .NET there); the same frames are exercised by the Python
// example's end-to-end test.

using System;
using System.IO;
using System.IO.Pipes;
using System.Text;

public sealed class YibaoClient
{
    private readonly string _pipe;

    public YibaoClient(string pipe = "yibao") { _pipe = pipe; }

    public string CallSync(string interfaceCode, string inputJson, int timeoutSeconds = 30) =>
        Request("{\"Call\":{\"interface\":" + Quote(interfaceCode) + ",\"input\":" + Quote(inputJson) +
                ",\"mode\":\"Sync\",\"wait_ms\":" + (timeoutSeconds * 1000) + "}}", timeoutSeconds);

    public string CallAsync(string interfaceCode, string inputJson) =>
        Request("{\"Call\":{\"interface\":" + Quote(interfaceCode) + ",\"input\":" + Quote(inputJson) +
                ",\"mode\":\"Async\"}}", 10);

    public string GetResult(long requestId) =>
        Request("{\"Result\":{\"request_id\":" + requestId + "}}", 10);

    public string WaitForResult(long requestId, int timeoutSeconds = 30) =>
        Request("{\"Wait\":{\"request_id\":" + requestId + ",\"timeout_ms\":" + (timeoutSeconds * 1000) + "}}",
                timeoutSeconds);

    /// Checks an input against the broker's interface catalog; nothing is recorded or sent.
    public string Validate(string interfaceCode, string inputJson) =>
        Request("{\"Validate\":{\"interface\":" + Quote(interfaceCode) + ",\"input\":" + Quote(inputJson) + "}}", 10);

    private string Request(string body, int timeoutSeconds)
    {
        using (var pipe = new NamedPipeClientStream(".", _pipe, PipeDirection.InOut))
        {
            try { pipe.Connect(3000); }
            catch (TimeoutException e)
            {
                throw new IOException("无法连接医保代理服务，请确认 yibao-broker 已启动 / cannot reach the yibao broker", e);
            }
            Write(pipe, "{\"Hello\":{\"version\":4,\"client\":\"yibao-csharp\"}}");
            Write(pipe, body);
            string welcome = Read(pipe);
            if (!welcome.StartsWith("{\"Welcome\"")) throw new IOException("handshake refused: " + welcome);
            string answer = Read(pipe);
            if (answer.StartsWith("{\"Error\"")) throw new InvalidOperationException(answer);
            return answer;
        }
    }

    private static void Write(Stream s, string json)
    {
        byte[] payload = Encoding.UTF8.GetBytes(json);
        byte[] header = new byte[5];
        BitConverter.GetBytes((uint)payload.Length).CopyTo(header, 0); // little-endian on Windows
        header[4] = (byte)'J';
        s.Write(header, 0, 5);
        s.Write(payload, 0, payload.Length);
        s.Flush();
    }

    private static string Read(Stream s)
    {
        byte[] header = ReadExact(s, 5);
        int length = (int)BitConverter.ToUInt32(header, 0);
        if (header[4] != (byte)'J') throw new IOException("unexpected frame format");
        return Encoding.UTF8.GetString(ReadExact(s, length));
    }

    private static byte[] ReadExact(Stream s, int n)
    {
        var buf = new byte[n];
        int got = 0;
        while (got < n)
        {
            int r = s.Read(buf, got, n - got);
            if (r == 0) throw new IOException("代理服务关闭了连接 / the broker closed the connection");
            got += r;
        }
        return buf;
    }

    /// JSON string literal (the input JSON travels as text, stored verbatim).
    private static string Quote(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4"));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
