using System.Globalization;
using Sim.Guest.Drivers;
using Sim.Guest.Drivers.Demo;
using Sim.Machine.Kvm;

namespace Sim.Scenarios;

/// <summary>The guest of the "demo" scenario: the lab 1 driver's probe, then the seed's test.c.</summary>
internal sealed class DemoGuest : GuestProgram
{
    private static readonly uint[] Values = [0x1333, 0x2333, 0x3333];

    private readonly int _rounds;
    private readonly bool _dmesg;
    private readonly PerRequestReport _report;

    public DemoGuest(int rounds, bool dmesg, PerRequestReport report)
    {
        _rounds = rounds;
        _dmesg = dmesg;
        _report = report;
    }

    public override IEnumerator<VcpuStep> Run(GuestContext guest)
    {
        var driver = new DemoPciDriver(guest, _dmesg ? line => guest.Print("kernel: " + line) : null);
        if (!driver.Probe(new PciResourceWindows()))
        {
            guest.Print("open /dev/demo error.");
            yield break;
        }
        yield return VcpuStep.Yield;
        guest.Print("open /dev/demo success..");
        _report.Start(guest.Now);
        for (int round = 0; round < _rounds; round++)
        {
            int step = 0;
            foreach (uint value in Values)
            {
                driver.Write(value);
                guest.Print(string.Create(CultureInfo.InvariantCulture, $"{step++}. write {value:x}"));
                yield return VcpuStep.Yield;
                uint read = driver.Read();
                guest.Print(string.Create(CultureInfo.InvariantCulture, $"{step++}. read = {read:x}"));
                yield return VcpuStep.Yield;
                _report.Requests += 2;
            }
        }
        _report.Stop(guest.Now);
    }
}
