namespace Sim.Engine.Trace.MessagePack;

/// <summary>The MessagePack type system (msgpack spec.md, "Type system"): what the next value is.</summary>
public enum MsgPackType : byte
{
    /// <summary>Not a value: the reserved code 0xc1.</summary>
    Unused = 0,
    Nil,
    Boolean,
    Integer,
    Float,
    String,
    Binary,
    Array,
    Map,
    Extension,
}
