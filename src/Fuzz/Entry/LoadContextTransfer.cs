using System.Reflection;
using Virtsim.Fuzz.Workers;

namespace Virtsim.Fuzz.Entry;

/// <summary>
/// Carries a parsed <see cref="FuzzInvocation"/> into the instrumented load context, where Virtsim.Fuzz is loaded a
/// second time and its types are other types: every property of <see cref="FuzzOptions"/> and
/// <see cref="CampaignArgs"/> goes across as a BCL value (enums as their number), keyed by record and property name,
/// and is set back on a fresh record there. Nothing is parsed twice.
/// </summary>
internal static class LoadContextTransfer
{
    private const string OptionsPrefix = "options.";
    private const string CampaignPrefix = "campaign.";

    public static Dictionary<string, object?> Export(FuzzInvocation invocation)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        var values = new Dictionary<string, object?>(StringComparer.Ordinal);
        Add(values, OptionsPrefix, invocation.Options);
        Add(values, CampaignPrefix, invocation.Campaign);
        return values;
    }

    public static FuzzInvocation Import(IReadOnlyDictionary<string, object?> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        return new FuzzInvocation(
            Set(new FuzzOptions(), OptionsPrefix, values),
            Set(new CampaignArgs(), CampaignPrefix, values)
        );
    }

    private static IEnumerable<PropertyInfo> Carried(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && p.GetIndexParameters().Length == 0);

    private static void Add(Dictionary<string, object?> values, string prefix, object record)
    {
        foreach (PropertyInfo p in Carried(record.GetType()))
        {
            object? value = p.GetValue(record);
            if (value is Enum e)
                value = Convert.ToInt32(e, System.Globalization.CultureInfo.InvariantCulture);
            else if (value is IReadOnlyList<string> list)
                value = list.ToArray();
            values[prefix + p.Name] = value;
        }
    }

    private static T Set<T>(T record, string prefix, IReadOnlyDictionary<string, object?> values)
        where T : class
    {
        foreach (PropertyInfo p in Carried(typeof(T)))
        {
            if (!values.TryGetValue(prefix + p.Name, out object? value))
                throw new InvalidOperationException($"{prefix}{p.Name} was not carried into the load context");
            if (p.PropertyType.IsEnum && value is not null)
                value = Enum.ToObject(p.PropertyType, value);
            p.SetValue(record, value);
        }
        return record;
    }
}
