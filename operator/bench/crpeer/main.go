// crpeer: the controller-runtime peer of Chakrator's benchmarks. It does exactly what
// samples/01-message does under Chakrator, for every example.com/v1 MyResource in one
// namespace:
//
//   - server-side apply of the child ConfigMap `<name>-message` (data.message, a
//     controller owner reference, label chakrator.dev/owner-uid), skipped when the
//     cached child already says so;
//   - a status merge patch (message upper-cased, observedGeneration, a Ready condition
//     whose lastTransitionTime only moves when its status flips), skipped when the live
//     status already says the same;
//   - requeue after 300 s, as the sample asks.
//
// So a converged object costs no write, as under Chakrator. Two modes:
//
//	--mode=defaults  controller-runtime as a new user writes it: For + Owns, no
//	                 predicates, the default cache (every ConfigMap of the namespace,
//	                 managedFields kept). Our own writes come back as watch events and
//	                 cost a (write-free) reconcile each.
//	--mode=filtered  what Chakrator's engine does (operator/src/engine/controller.ts):
//	                 parent updates reconcile only when generation, labels, annotations,
//	                 finalizers or deletion changed (so our status write's echo is
//	                 dropped); a child event carrying exactly the resourceVersion our own
//	                 apply returned is dropped (an event that beats the apply's response
//	                 is judged once the response is in); children are cached only with
//	                 the owner label; managedFields are stripped from the caches.
//
// Both modes run --workers concurrent reconciles (controller-runtime's default is 1;
// the benchmarks pass Chakrator's worker count). Client-side rate limiting is off, as
// controller-runtime's config loader does by default. Counters of its own writes are
// served with controller-runtime's metrics on --metrics-addr (crpeer_applies_total,
// crpeer_status_patches_total, controller_runtime_reconcile_total).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

const (
	ownerLabel   = "chakrator.dev/owner-uid"
	fieldManager = "crpeer"
)

var parentGVK = schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "MyResource"}

var (
	applies       = prometheus.NewCounter(prometheus.CounterOpts{Name: "crpeer_applies_total", Help: "Server-side applies of child ConfigMaps."})
	statusPatches = prometheus.NewCounter(prometheus.CounterOpts{Name: "crpeer_status_patches_total", Help: "Status merge patches."})
)

// echoes remembers the resourceVersions our own writes produced (as Chakrator's
// #wrote/#isEcho). A watch event can arrive before the write's response does (the
// informer runs in its own goroutine), so a write in flight is marked first, and an
// event for an object with a write in flight is judged once that write has answered.
type echoes struct {
	mu       sync.Mutex
	seen     map[string]struct{}
	inflight map[string]chan struct{}
}

func objKey(kind, ns, name string) string { return kind + "/" + ns + "/" + name }

// begin marks a write to kind/ns/name in flight; call the returned func with the
// resourceVersion the write returned ("" when it failed).
func (e *echoes) begin(kind, ns, name string) func(rv string) {
	if e == nil {
		return func(string) {}
	}
	k := objKey(kind, ns, name)
	ch := make(chan struct{})
	e.mu.Lock()
	e.inflight[k] = ch
	e.mu.Unlock()
	return func(rv string) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if rv != "" {
			if len(e.seen) > 50_000 {
				e.seen = map[string]struct{}{}
			}
			e.seen[k+"@"+rv] = struct{}{}
		}
		if e.inflight[k] == ch {
			delete(e.inflight, k)
		}
		close(ch)
	}
}

// isEcho reports (and forgets) whether obj is exactly the version one of our writes
// returned, without waiting for a write in flight.
func (e *echoes) isEcho(kind string, obj client.Object) bool {
	k := objKey(kind, obj.GetNamespace(), obj.GetName()) + "@" + obj.GetResourceVersion()
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.seen[k]
	delete(e.seen, k)
	return ok
}

// unlessEcho calls next unless obj is exactly the version one of our writes returned
// (that version is forgotten then); with a write to obj in flight, it decides later.
func (e *echoes) unlessEcho(kind string, obj client.Object, next func()) {
	k := objKey(kind, obj.GetNamespace(), obj.GetName())
	check := func() {
		if !e.isEcho(kind, obj) {
			next()
		}
	}
	e.mu.Lock()
	ch, busy := e.inflight[k]
	e.mu.Unlock()
	if !busy {
		check()
		return
	}
	go func() { <-ch; check() }()
}

type reconciler struct {
	client.Client
	echoes *echoes // nil in defaults mode
}

func (r *reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	res := &unstructured.Unstructured{}
	res.SetGroupVersionKind(parentGVK)
	if err := r.Get(ctx, req.NamespacedName, res); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if res.GetDeletionTimestamp() != nil {
		return ctrl.Result{}, nil
	}
	message, _, _ := unstructured.NestedString(res.Object, "spec", "message")
	ns, name, uid := res.GetNamespace(), res.GetName(), res.GetUID()
	childName := name + "-message"

	live := &corev1.ConfigMap{}
	err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: childName}, live)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	if err != nil || !childConverged(live, message, uid) {
		// Unstructured: the response is decoded into it (a typed apply configuration is
		// not filled in by controller-runtime v0.22), and we need its resourceVersion.
		child := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1",
			"kind":       "ConfigMap",
			"metadata": map[string]any{
				"name":      childName,
				"namespace": ns,
				"labels":    map[string]any{ownerLabel: string(uid)},
				"ownerReferences": []any{map[string]any{
					"apiVersion": parentGVK.GroupVersion().String(), "kind": parentGVK.Kind, "name": name, "uid": string(uid),
					"controller": true, "blockOwnerDeletion": true,
				}},
			},
			"data": map[string]any{"message": message},
		}}
		done := r.echoes.begin("ConfigMap", ns, childName)
		if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(child), client.FieldOwner(fieldManager), client.ForceOwnership); err != nil {
			done("")
			return ctrl.Result{}, fmt.Errorf("apply ConfigMap %s: %w", childName, err)
		}
		applies.Inc()
		done(child.GetResourceVersion())
	}

	if patch := statusPatch(res, strings.ToUpper(message)); patch != nil {
		body, err := json.Marshal(map[string]any{"status": patch})
		if err != nil {
			return ctrl.Result{}, err
		}
		done := r.echoes.begin(parentGVK.Kind, ns, name)
		if err := r.Status().Patch(ctx, res, client.RawPatch(types.MergePatchType, body)); err != nil {
			done("")
			return ctrl.Result{}, fmt.Errorf("status: %w", err)
		}
		statusPatches.Inc()
		done(res.GetResourceVersion())
	}
	return ctrl.Result{RequeueAfter: 300 * time.Second}, nil
}

func childConverged(live *corev1.ConfigMap, message string, uid types.UID) bool {
	if live.Data["message"] != message || live.Labels[ownerLabel] != string(uid) {
		return false
	}
	for _, ref := range live.OwnerReferences {
		if ref.UID == uid && ref.Controller != nil && *ref.Controller {
			return true
		}
	}
	return false
}

// statusPatch returns the status to merge, or nil when the live status already says it.
func statusPatch(res *unstructured.Unstructured, upper string) map[string]any {
	gen := res.GetGeneration()
	live, _, _ := unstructured.NestedMap(res.Object, "status")
	conditions, _, _ := unstructured.NestedSlice(res.Object, "status", "conditions")
	var others []any
	var ready map[string]any
	for _, c := range conditions {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			ready = m
		} else {
			others = append(others, c)
		}
	}
	const msg = "1 child in sync"
	if live["message"] == upper && asInt(live["observedGeneration"]) == gen && ready != nil &&
		ready["status"] == "True" && ready["reason"] == "Reconciled" && ready["message"] == msg && asInt(ready["observedGeneration"]) == gen {
		return nil
	}
	transition := time.Now().UTC().Format(time.RFC3339)
	if ready != nil && ready["status"] == "True" {
		if t, ok := ready["lastTransitionTime"].(string); ok {
			transition = t
		}
	}
	cond := map[string]any{"type": "Ready", "status": "True", "reason": "Reconciled", "message": msg, "lastTransitionTime": transition, "observedGeneration": gen}
	return map[string]any{"message": upper, "observedGeneration": gen, "conditions": append(others, cond)}
}

func asInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return -1
}

// worthReconciling is Chakrator's rule for a parent update (controller.ts).
func worthReconciling(old, obj client.Object) bool {
	if old.GetGeneration() != obj.GetGeneration() {
		return true
	}
	same := func(a, b any) bool { x, _ := json.Marshal(a); y, _ := json.Marshal(b); return string(x) == string(y) }
	return !same(old.GetDeletionTimestamp(), obj.GetDeletionTimestamp()) || !same(old.GetLabels(), obj.GetLabels()) ||
		!same(old.GetAnnotations(), obj.GetAnnotations()) || !same(old.GetFinalizers(), obj.GetFinalizers())
}

func main() {
	namespace := flag.String("namespace", "default", "namespace whose MyResources it reconciles")
	mode := flag.String("mode", "defaults", "defaults | filtered")
	workers := flag.Int("workers", 1, "MaxConcurrentReconciles")
	metricsAddr := flag.String("metrics-addr", "0", "host:port of /metrics (0: off)")
	version := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		fmt.Println("crpeer (controller-runtime v0.22.5)")
		return
	}
	if *mode != "defaults" && *mode != "filtered" {
		fmt.Fprintf(os.Stderr, "crpeer: --mode must be defaults or filtered, not %q\n", *mode)
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(false)))
	log := ctrl.Log.WithName("crpeer")

	// --kubeconfig (registered by controller-runtime) or KUBECONFIG; client-side rate
	// limiting off, controller-runtime's default (it relies on API priority and fairness).
	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "cannot load the kubeconfig")
		os.Exit(1)
	}
	metrics.Registry.MustRegister(applies, statusPatches)

	cacheOpts := cache.Options{DefaultNamespaces: map[string]cache.Config{*namespace: {}}}
	var echo *echoes
	if *mode == "filtered" {
		echo = &echoes{seen: map[string]struct{}{}, inflight: map[string]chan struct{}{}}
		hasOwner, err := labels.NewRequirement(ownerLabel, selection.Exists, nil)
		if err != nil {
			panic(err)
		}
		cacheOpts.DefaultTransform = cache.TransformStripManagedFields()
		cacheOpts.ByObject = map[client.Object]cache.ByObject{&corev1.ConfigMap{}: {Label: labels.NewSelector().Add(*hasOwner)}}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Cache:                  cacheOpts,
		Metrics:                metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress: "0",
		LeaderElection:         false,
	})
	if err != nil {
		log.Error(err, "cannot create the manager")
		os.Exit(1)
	}
	parent := &unstructured.Unstructured{}
	parent.SetGroupVersionKind(parentGVK)
	b := ctrl.NewControllerManagedBy(mgr).Named("message").WithOptions(controller.Options{MaxConcurrentReconciles: *workers})
	if echo == nil {
		b = b.For(parent).Owns(&corev1.ConfigMap{})
	} else {
		// The parent: Chakrator's echo check, then its worthReconciling (a status echo
		// never changes the generation, so the rule alone would drop it too).
		parentFilter := predicate.Funcs{
			UpdateFunc: func(e event.UpdateEvent) bool {
				return !echo.isEcho(parentGVK.Kind, e.ObjectNew) && worthReconciling(e.ObjectOld, e.ObjectNew)
			},
		}
		// Children: enqueue the controller owner unless the event is our own apply's echo.
		owner := func(obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) func() {
			return func() {
				if ref := metav1.GetControllerOf(obj); ref != nil && ref.Kind == parentGVK.Kind && ref.APIVersion == parentGVK.GroupVersion().String() {
					q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: ref.Name}})
				}
			}
		}
		children := handler.Funcs{
			CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				echo.unlessEcho("ConfigMap", e.Object, owner(e.Object, q))
			},
			UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				echo.unlessEcho("ConfigMap", e.ObjectNew, owner(e.ObjectNew, q))
			},
			DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				owner(e.Object, q)()
			},
		}
		b = b.For(parent, builder.WithPredicates(parentFilter)).Watches(&corev1.ConfigMap{}, children)
	}
	if err := b.Complete(&reconciler{Client: mgr.GetClient(), echoes: echo}); err != nil {
		log.Error(err, "cannot build the controller")
		os.Exit(1)
	}
	log.Info("starting", "mode", *mode, "namespace", *namespace, "workers", *workers)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}
