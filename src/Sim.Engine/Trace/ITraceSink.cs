namespace Sim.Engine.Trace;

/// <summary>Receives the events of a run in order (a trace writer, an in-memory log, a replay
/// comparer). Called synchronously from the simulation; must not retain <see cref="TraceEvent.Data"/>.</summary>
public interface ITraceSink
{
    void Write(in TraceEvent ev);
}
