// A static website from one resource: the HTML goes into a ConfigMap, an unprivileged
// nginx Deployment serves it, a Service exposes it. A content hash on the pod template
// rolls the pods when the HTML changes (a mounted ConfigMap alone updates late and
// without a rollout). Status reports the URL and the replicas the Deployment reports,
// read from the operator's cache; Ready=True means "applied", not "pods ready".
import type { Reconciler, Resource } from "chakrator";
import { contentHash } from "./hash.ts";

interface Website extends Resource {
  spec: { html: string; replicas?: number; image?: string };
}

interface Deployment extends Resource {
  status?: { readyReplicas?: number; availableReplicas?: number };
}

const deploymentKind = { apiVersion: "apps/v1", kind: "Deployment" };

export default {
  for: { apiVersion: "example.com/v1", kind: "Website" },
  owns: [
    { apiVersion: "v1", kind: "ConfigMap" },
    deploymentKind,
    { apiVersion: "v1", kind: "Service" },
  ],
  async reconcile(site: Website, ctx) {
    const name = site.metadata.name;
    const replicas = site.spec.replicas ?? 1;
    const labels = { "app.kubernetes.io/name": "website", "app.kubernetes.io/instance": name };
    const live = await ctx.get<Deployment>(deploymentKind, name);
    ctx.log.info("reconciling website", { name, replicas, bytes: site.spec.html.length });
    return {
      children: [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: `${name}-html`, labels },
          data: { "index.html": site.spec.html },
        },
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name, labels },
          spec: {
            replicas,
            selector: { matchLabels: labels },
            template: {
              metadata: { labels, annotations: { "example.com/html-hash": contentHash(site.spec.html) } },
              spec: {
                securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
                containers: [
                  {
                    name: "nginx",
                    image: site.spec.image ?? "nginxinc/nginx-unprivileged:1.27-alpine",
                    ports: [{ name: "http", containerPort: 8080 }],
                    readinessProbe: { httpGet: { path: "/", port: "http" } },
                    securityContext: {
                      allowPrivilegeEscalation: false,
                      readOnlyRootFilesystem: true,
                      capabilities: { drop: ["ALL"] },
                    },
                    volumeMounts: [
                      { name: "html", mountPath: "/usr/share/nginx/html", readOnly: true },
                      { name: "tmp", mountPath: "/tmp" },
                    ],
                  },
                ],
                volumes: [
                  { name: "html", configMap: { name: `${name}-html` } },
                  { name: "tmp", emptyDir: {} },
                ],
              },
            },
          },
        },
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name, labels },
          spec: {
            selector: labels,
            ports: [{ name: "http", port: 80, targetPort: "http" }],
          },
        },
      ],
      status: {
        url: `http://${name}.${site.metadata.namespace ?? "default"}.svc.cluster.local`,
        replicas,
        readyReplicas: live?.status?.readyReplicas ?? 0,
      },
    };
  },
} satisfies Reconciler<Website>;
