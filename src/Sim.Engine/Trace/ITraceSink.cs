namespace Sim.Engine.Trace;

/// <summary>Receives the events of a run in order (a trace writer, an in-memory log, a replay
/// comparer). Called synchronously from the simulation; must not retain <see cref="TraceEvent.Data"/>.</summary>
public interface ITraceSink
{
    /// <summary>Takes one event; <paramref name="ev"/>'s data is valid only during the call.</summary>
    void Write(in TraceEvent ev);
}
