// Validates Prometheus Operator objects against the Operator's CRD schemas, as compiled into the
// @kubernetes-models/prometheus-operator package. Reads a JSON list of objects on stdin; prints one JSON line per
// object ({"kind", "name", "error"}; error is null when valid) and exits 0 (the test decides).
import * as v1 from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import * as v1alpha1 from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1alpha1";

const models = {
  "monitoring.coreos.com/v1": v1,
  "monitoring.coreos.com/v1alpha1": v1alpha1,
};

let input = "";
for await (const chunk of process.stdin) input += chunk;
for (const obj of JSON.parse(input)) {
  const group = models[obj.apiVersion];
  const Model = group && group[obj.kind];
  let error = null;
  if (!Model) {
    error = `no schema for ${obj.apiVersion} ${obj.kind}`;
  } else {
    try {
      new Model(obj).validate();
    } catch (e) {
      error = String(e.message || e);
    }
  }
  console.log(JSON.stringify({ kind: obj.kind, name: obj.metadata && obj.metadata.name, error }));
}
