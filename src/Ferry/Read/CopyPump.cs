namespace Ferry.Read;

/// <summary>
/// Streams one COPY into another without decoding a row: what the reader's slices and the one-time copy both do.
/// The caller opens both ends (and sets their timeouts); closing them ends the COPYs.
/// </summary>
public static class CopyPump
{
    /// <summary>Binary COPY; returns the bytes moved, and counts the rows into <paramref name="tuples"/> when given.</summary>
    /// <param name="moved">told the bytes and rows moved so far after each piece (rows counted only with tuples)</param>
    public static async Task<long> BinaryAsync(Stream from, Stream to, CopyTupleCounter? tuples, CancellationToken ct,
        Action<long, long>? moved = null)
    {
        var buffer = new byte[128 * 1024];
        long bytes = 0;
        int n;
        while ((n = await from.ReadAsync(buffer, ct)) > 0)
        {
            tuples?.Feed(buffer.AsSpan(0, n));
            await to.WriteAsync(buffer.AsMemory(0, n), ct);
            bytes += n;
            moved?.Invoke(bytes, tuples?.Rows ?? 0);
        }
        return bytes;
    }

    /// <summary>Text COPY; returns the characters and the rows moved (text COPY escapes the newlines in values: each one left ends a row).</summary>
    public static async Task<(long Chars, long Rows)> TextAsync(TextReader from, TextWriter to, CancellationToken ct,
        Action<long, long>? moved = null)
    {
        var buffer = new char[64 * 1024];
        long chars = 0, rows = 0;
        int n;
        while ((n = await from.ReadAsync(buffer, ct)) > 0)
        {
            rows += buffer.AsSpan(0, n).Count('\n');
            await to.WriteAsync(buffer.AsMemory(0, n), ct);
            chars += n;
            moved?.Invoke(chars, rows);
        }
        return (chars, rows);
    }
}
