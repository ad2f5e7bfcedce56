// Offline validation of rendered Kubernetes manifests, where
// `kubectl apply --dry-run=client` cannot run (it needs an API server for
// discovery even in client mode).
//
//   node .tools/k8s-validate/validate.mjs rendered.yaml...   exit 0: all valid
//
// Each file is one set of objects (one render): references are resolved
// within it.
//
// deploy/tools.sh installs this script beside its packages (package.json,
// locked) under .tools/k8s-validate/.
//
// Three layers, each naming the object and the field:
//   1. schema: kubernetes-models' JSON-schema validators, generated from the
//      Kubernetes OpenAPI (types, formats, required fields, enums); the
//      Prometheus Operator's CRDs for ServiceMonitor.
//   2. fields: the TypeScript compiler checks each object against the API's
//      types with excess-property checks, so a misspelt or misplaced field
//      (`readinesProbe`, `ports` under the pod) is an error, as
//      `kubectl --validate=strict` would make it.
//   3. references: what a server would accept but a cluster would not run:
//      names (DNS-1123/1035), label values, selectors that match their pod
//      templates, named ports, volumes, ConfigMaps, ServiceAccounts,
//      StatefulSet governing Services, PDB/HPA/Ingress targets, and
//      NetworkPolicies that select pods in the manifests, admit ports those
//      pods listen on and send to pods (in their namespace) that exist.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const ts = require("typescript");

const errors = [];
const fail = (doc, message) => errors.push(`${doc.where}: ${message}`);

// --- load ---------------------------------------------------------------
const docs = [];
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8");
  for (const parsed of YAML.parseAllDocuments(text, { uniqueKeys: true })) {
    const source = /# Source: (\S+)/.exec(parsed.commentBefore ?? "")?.[1] ?? file;
    if (parsed.errors.length) {
      errors.push(`${source}: YAML: ${parsed.errors[0].message}`);
      continue;
    }
    const object = parsed.toJSON();
    if (object == null) continue;
    const name = object?.metadata?.name ?? "?";
    docs.push({ object, file, where: `${source} ${object.kind ?? "?"}/${name}` });
  }
}
if (docs.length === 0 && errors.length === 0) errors.push("no Kubernetes objects found");

// --- 1. schema ----------------------------------------------------------
function modelPath(apiVersion, kind) {
  if (apiVersion.startsWith("monitoring.coreos.com/"))
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}
for (const doc of docs) {
  const { apiVersion, kind, metadata } = doc.object;
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    fail(doc, "apiVersion and kind must be strings");
    continue;
  }
  if (!metadata?.name) fail(doc, "metadata.name is required");
  doc.module = modelPath(apiVersion, kind);
  let model;
  try {
    model = (await import(doc.module))[kind];
  } catch {
    fail(doc, `unknown apiVersion/kind ${apiVersion} ${kind}`);
    doc.module = null;
    continue;
  }
  try {
    new model(doc.object).validate();
  } catch (e) {
    fail(doc, `schema: ${e.message}`);
  }
}

// --- 2. fields (TypeScript excess-property checks) ----------------------
{
  const known = docs.filter((d) => d.module);
  let source = known
    .map((doc, i) => `import type { I${doc.object.kind} as T${i} } from "${doc.module}";\n`)
    .join("");
  const starts = [];  // the line each object's literal starts on
  known.forEach((doc, i) => {
    starts.push(source.split("\n").length - 1);
    source += `export const o${i}: T${i} = ${JSON.stringify(doc.object, null, 1)};\n`;
  });
  const checkFile = join(here, "__manifests_check.ts");  // in memory only
  const options = {
    strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  host.readFile = (f) => (f === checkFile ? source : readFile(f));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => f === checkFile || fileExists(f);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (f, v) =>
    f === checkFile ? ts.createSourceFile(f, source, v) : getSourceFile(f, v);
  const program = ts.createProgram([checkFile], options, host);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    if (!d.file || d.file.fileName !== checkFile) {
      errors.push(`validator setup: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`);
      continue;
    }
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    const index = starts.findLastIndex((s) => s <= line);
    const text = ts.flattenDiagnosticMessageText(d.messageText, " ");
    if (index < 0) errors.push(`validator setup: ${text}`);
    else {
      const path = fieldPath(source.split("\n"), starts[index], line);
      fail(known[index], `field ${path}: ${text.replace(/'Omit<.*$/, "").slice(0, 300)}`);
    }
  }
}

// The JSON path of a line in the pretty-printed object, from its indentation.
function fieldPath(lines, start, line) {
  const parts = [];
  let indent = Infinity;
  for (let l = line; l > start && indent > 1; l--) {
    const m = /^( *)"([^"]+)":/.exec(lines[l]);
    if (m && m[1].length < indent) {
      parts.unshift(m[2]);
      indent = m[1].length;
    }
  }
  return parts.join(".") || "(top level)";
}

// --- 3. references ------------------------------------------------------
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkReferences(docs) {
  const byKind = (kind) => docs.filter((d) => d.object.kind === kind);
  const workloads = docs.filter((d) => ["Deployment", "StatefulSet"].includes(d.object.kind));
  const podLabels = (w) => w.object.spec?.template?.metadata?.labels ?? {};
  const matches = (selector, labels) =>
    Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
  const containerPorts = (w) =>
    (w.object.spec?.template?.spec?.containers ?? []).flatMap((c) => c.ports ?? []);
  const exists = (kind, name) => docs.some((d) => d.object.kind === kind && d.object.metadata?.name === name);

  const seen = new Set();
  for (const doc of docs) {
    const { kind, metadata = {} } = doc.object;
    const key = `${kind}/${metadata.namespace ?? ""}/${metadata.name}`;
    if (seen.has(key)) fail(doc, "defined twice");
    seen.add(key);
    const name = metadata.name ?? "";
    if (!dns1123Subdomain.test(name) || name.length > 253)
      fail(doc, `metadata.name "${name}" is not a DNS-1123 subdomain`);
    if (["Service"].includes(kind) && (!dns1035Label.test(name) || name.length > 63))
      fail(doc, `Service name "${name}" must be a DNS-1035 label (63 characters at most)`);
    for (const labels of [metadata.labels, doc.object.spec?.template?.metadata?.labels]) {
      for (const [k, v] of Object.entries(labels ?? {})) {
        if (typeof v !== "string" || v.length > 63 || !labelValue.test(v))
          fail(doc, `label ${k}: "${v}" is not a valid label value`);
      }
    }
  }

  for (const w of workloads) {
    const spec = w.object.spec ?? {};
    const pod = spec.template?.spec ?? {};
    if (!matches(spec.selector?.matchLabels, podLabels(w)))
      fail(w, "spec.selector.matchLabels does not match the pod template's labels");
    const volumes = new Set([
      ...(pod.volumes ?? []).map((v) => v.name),
      ...(spec.volumeClaimTemplates ?? []).map((v) => v.metadata?.name),
    ]);
    for (const v of pod.volumes ?? []) {
      if (v.configMap && !v.configMap.optional && !exists("ConfigMap", v.configMap.name))
        fail(w, `volume ${v.name}: ConfigMap ${v.configMap.name} is not in the manifests`);
    }
    const sa = pod.serviceAccountName;
    if (sa && sa !== "default" && !exists("ServiceAccount", sa))
      fail(w, `serviceAccountName ${sa} is not in the manifests`);
    for (const c of pod.containers ?? []) {
      const names = new Set((c.ports ?? []).map((p) => p.name));
      for (const p of c.ports ?? []) {
        if (p.name && (p.name.length > 15 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(p.name)))
          fail(w, `container ${c.name}: port name "${p.name}" is not an IANA service name`);
      }
      for (const m of c.volumeMounts ?? []) {
        if (!volumes.has(m.name)) fail(w, `container ${c.name}: volumeMount ${m.name} has no volume`);
      }
      for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
        const port = c[probe]?.httpGet?.port ?? c[probe]?.tcpSocket?.port;
        if (typeof port === "string" && !names.has(port))
          fail(w, `container ${c.name}: ${probe} names port "${port}" the container does not have`);
      }
    }
    if (w.object.kind === "StatefulSet") {
      const governing = byKind("Service").find((s) => s.object.metadata.name === spec.serviceName);
      if (!governing) fail(w, `serviceName ${spec.serviceName} is not a Service in the manifests`);
      else if (governing.object.spec?.clusterIP !== "None")
        fail(w, `serviceName ${spec.serviceName} must be a headless Service (clusterIP: None)`);
    }
  }

  for (const s of byKind("Service")) {
    const selector = s.object.spec?.selector;
    if (!selector) continue;
    const targets = workloads.filter((w) => matches(selector, podLabels(w)));
    if (targets.length === 0) {
      fail(s, "spec.selector matches no Deployment or StatefulSet in the manifests");
      continue;
    }
    if (targets.length > 1) fail(s, `spec.selector matches ${targets.length} workloads`);
    const names = new Set(targets.flatMap(containerPorts).map((p) => p.name));
    for (const p of s.object.spec.ports ?? []) {
      if (typeof p.targetPort === "string" && !names.has(p.targetPort))
        fail(s, `port ${p.name}: targetPort "${p.targetPort}" is not a container port of its pods`);
    }
  }

  // A NetworkPolicy that selects nothing, or opens a port nobody listens on,
  // is accepted by the API server and silently protects (or allows) nothing.
  for (const np of byKind("NetworkPolicy")) {
    const spec = np.object.spec ?? {};
    const selected = workloads.filter((w) => matches(spec.podSelector?.matchLabels, podLabels(w)));
    if (selected.length === 0) {
      fail(np, "spec.podSelector matches no workload in the manifests");
      continue;
    }
    const listening = (targets) => {
      const ports = targets.flatMap(containerPorts);
      return (p) => ports.some((c) => c.name === p || c.containerPort === p);
    };
    const selectedListens = listening(selected);
    (spec.ingress ?? []).forEach((rule, i) => {
      for (const p of rule.ports ?? []) {
        if (p.port !== undefined && !selectedListens(p.port))
          fail(np, `ingress[${i}]: port ${p.port} is not a container port of the pods it selects`);
      }
    });
    (spec.egress ?? []).forEach((rule, i) => {
      for (const peer of rule.to ?? []) {
        if (!peer.podSelector || peer.namespaceSelector) continue;  // elsewhere: not in these manifests
        const targets = workloads.filter((w) => matches(peer.podSelector.matchLabels, podLabels(w)));
        if (targets.length === 0) {
          fail(np, `egress[${i}]: podSelector ${JSON.stringify(peer.podSelector.matchLabels)} matches no workload in the manifests`);
          continue;
        }
        const targetListens = listening(targets);
        for (const p of rule.ports ?? []) {
          if (p.port !== undefined && !targetListens(p.port))
            fail(np, `egress[${i}]: port ${p.port} is not a container port of ${JSON.stringify(peer.podSelector.matchLabels)}`);
        }
      }
    });
  }

  for (const pdb of byKind("PodDisruptionBudget")) {
    if (!workloads.some((w) => matches(pdb.object.spec?.selector?.matchLabels, podLabels(w))))
      fail(pdb, "spec.selector matches no workload in the manifests");
  }
  for (const hpa of byKind("HorizontalPodAutoscaler")) {
    const ref = hpa.object.spec?.scaleTargetRef ?? {};
    if (!exists(ref.kind, ref.name)) fail(hpa, `scaleTargetRef ${ref.kind}/${ref.name} is not in the manifests`);
  }
  for (const ing of byKind("Ingress")) {
    for (const rule of ing.object.spec?.rules ?? []) {
      for (const path of rule.http?.paths ?? []) {
        const svc = path.backend?.service;
        const target = byKind("Service").find((s) => s.object.metadata.name === svc?.name);
        if (!target) fail(ing, `backend Service ${svc?.name} is not in the manifests`);
        else if (svc.port?.name && !(target.object.spec.ports ?? []).some((p) => p.name === svc.port.name))
          fail(ing, `backend Service ${svc.name} has no port named ${svc.port.name}`);
      }
    }
  }
}
for (const file of new Set(docs.map((d) => d.file))) {
  checkReferences(docs.filter((d) => d.file === file));
}

if (errors.length) {
  for (const e of errors) console.error(`invalid: ${e}`);
  console.error(`${errors.length} problem(s) in ${docs.length} object(s)`);
  process.exit(1);
}
const kinds = {};
for (const d of docs) kinds[d.object.kind] = (kinds[d.object.kind] ?? 0) + 1;
console.log(`valid: ${docs.length} objects in ${process.argv.length - 2} file(s) (${Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(", ")})`);
