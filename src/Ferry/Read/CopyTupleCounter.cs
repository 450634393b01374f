using System.Buffers.Binary;

namespace Ferry.Read;

/// <summary>
/// Counts the rows of a binary COPY stream as it passes, without decoding a value: the signature and header, then
/// per row a 16-bit field count and per field a 32-bit length (-1 for NULL) and that many bytes, up to the trailer
/// (a field count of -1). Bytes arrive in pieces of any size, so a length may straddle two of them.
/// </summary>
public sealed class CopyTupleCounter
{
    private const int SignatureAndFlags = 11 + 4;
    private readonly byte[] _pending = new byte[4];
    private int _pendingLength;
    private long _skip = SignatureAndFlags;
    private State _state = State.HeaderSkip;
    private int _fieldsLeft;

    private enum State { HeaderSkip, ExtensionLength, FieldCount, FieldLength, Done }

    /// <summary>Rows seen so far.</summary>
    public long Rows { get; private set; }

    /// <summary>Whether the trailer was seen: the stream is complete.</summary>
    public bool Complete => _state == State.Done;

    public void Feed(ReadOnlySpan<byte> bytes)
    {
        while (bytes.Length > 0 && _state != State.Done)
        {
            if (_skip > 0)
            {
                var n = (int)Math.Min(_skip, bytes.Length);
                _skip -= n;
                bytes = bytes[n..];
                if (_skip == 0 && _state == State.HeaderSkip) _state = State.ExtensionLength;
                continue;
            }
            var need = _state == State.FieldCount ? 2 : 4;
            var take = Math.Min(need - _pendingLength, bytes.Length);
            bytes[..take].CopyTo(_pending.AsSpan(_pendingLength));
            _pendingLength += take;
            bytes = bytes[take..];
            if (_pendingLength < need) return;
            _pendingLength = 0;
            switch (_state)
            {
                case State.ExtensionLength:
                    _skip = BinaryPrimitives.ReadUInt32BigEndian(_pending);
                    _state = State.FieldCount;
                    break;
                case State.FieldCount:
                    var fields = BinaryPrimitives.ReadInt16BigEndian(_pending);
                    if (fields < 0)
                    {
                        _state = State.Done;
                        break;
                    }
                    Rows++;
                    _fieldsLeft = fields;
                    if (_fieldsLeft > 0) _state = State.FieldLength;
                    break;
                case State.FieldLength:
                    var length = BinaryPrimitives.ReadInt32BigEndian(_pending);
                    if (length > 0) _skip = length;
                    if (--_fieldsLeft == 0) _state = State.FieldCount;
                    break;
            }
        }
    }
}
