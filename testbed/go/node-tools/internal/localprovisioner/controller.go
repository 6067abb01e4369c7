package localprovisioner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// resync is how often the informers hand every object to the handlers again, so that a claim whose
// class appeared later, or a failure that is not retried, is looked at again.
const resync = time.Minute

// Controller watches claims, PVs and StorageClasses through informers (so a restart lists everything
// again and picks up where it stopped) and works through a rate-limited queue of keys
// "claim/<namespace>/<name>" and "volume/<name>".
type Controller struct {
	opts     Options
	client   kubernetes.Interface
	log      *slog.Logger
	claims   corelisters.PersistentVolumeClaimLister
	volumes  corelisters.PersistentVolumeLister
	classes  storagelisters.StorageClassLister
	synced   []cache.InformerSynced
	factory  informers.SharedInformerFactory
	queue    workqueue.TypedRateLimitingInterface[string]
	events   record.EventBroadcaster
	recorder record.EventRecorder
}

// New validates the options and sets up the informers; Run starts them.
func New(client kubernetes.Interface, opts Options, logger *slog.Logger) (*Controller, error) {
	switch {
	case opts.ProvisionerName == "":
		return nil, errors.New("provisioner name is required")
	case opts.NodeName == "":
		return nil, errors.New("node name is required")
	case opts.BaseDir == "" || !strings.HasPrefix(opts.BaseDir, "/"):
		return nil, fmt.Errorf("base directory %q must be an absolute path", opts.BaseDir)
	}
	if logger == nil {
		logger = slog.Default()
	}
	factory := informers.NewSharedInformerFactory(client, resync)
	claimInformer := factory.Core().V1().PersistentVolumeClaims()
	volumeInformer := factory.Core().V1().PersistentVolumes()
	classInformer := factory.Storage().V1().StorageClasses()
	events := record.NewBroadcaster()
	c := &Controller{
		opts:    opts,
		client:  client,
		log:     logger,
		claims:  claimInformer.Lister(),
		volumes: volumeInformer.Lister(),
		classes: classInformer.Lister(),
		synced: []cache.InformerSynced{
			claimInformer.Informer().HasSynced, volumeInformer.Informer().HasSynced, classInformer.Informer().HasSynced,
		},
		factory: factory,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "local-provisioner"}),
		events:   events,
		recorder: events.NewRecorder(scheme.Scheme, v1.EventSource{Component: "local-provisioner", Host: opts.NodeName}),
	}
	enqueueClaim := func(obj any) {
		if claim, ok := obj.(*v1.PersistentVolumeClaim); ok {
			c.queue.Add("claim/" + claim.Namespace + "/" + claim.Name)
		}
	}
	enqueueVolume := func(obj any) {
		if pv, ok := obj.(*v1.PersistentVolume); ok {
			c.queue.Add("volume/" + pv.Name)
		}
	}
	// A class made after its claims: look at its claims again.
	enqueueClassClaims := func(obj any) {
		class, ok := obj.(*storagev1.StorageClass)
		if !ok || class.Provisioner != opts.ProvisionerName {
			return
		}
		claims, _ := c.claims.List(labels.Everything())
		for _, claim := range claims {
			if claim.Spec.StorageClassName != nil && *claim.Spec.StorageClassName == class.Name {
				enqueueClaim(claim)
			}
		}
	}
	for _, reg := range []struct {
		informer cache.SharedIndexInformer
		enqueue  func(any)
	}{
		{claimInformer.Informer(), enqueueClaim},
		{volumeInformer.Informer(), enqueueVolume},
		{classInformer.Informer(), enqueueClassClaims},
	} {
		enqueue := reg.enqueue
		if _, err := reg.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(_, obj any) { enqueue(obj) },
		}); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Run serves until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error {
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.events.Shutdown()
	defer c.queue.ShutDown()
	c.factory.Start(ctx.Done())
	defer c.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("informers did not sync: %w", ctx.Err())
	}
	c.log.Info("serving", "provisioner", c.opts.ProvisionerName, "node", c.opts.NodeName, "baseDir", c.opts.BaseDir)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	var err error
	switch kind, rest, _ := strings.Cut(key, "/"); kind {
	case "claim":
		namespace, name, _ := strings.Cut(rest, "/")
		err = c.syncClaim(ctx, namespace, name)
	case "volume":
		err = c.syncVolume(ctx, rest)
	}
	if err != nil {
		c.log.Warn("will retry", "key", key, "error", err)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func (c *Controller) syncClaim(ctx context.Context, namespace, name string) error {
	claim, err := c.claims.PersistentVolumeClaims(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	var class *storagev1.StorageClass
	if claim.Spec.StorageClassName != nil && *claim.Spec.StorageClassName != "" {
		class, err = c.classes.Get(*claim.Spec.StorageClassName)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if ok, _ := c.opts.wants(claim, class); !ok {
		return nil
	}
	pvName := volumeName(claim)
	if existing, err := c.volumes.Get(pvName); err == nil {
		return c.checkVolumeFor(existing, claim)
	}
	pv, err := c.opts.buildVolume(claim, class)
	if err != nil {
		// Nothing a retry changes: say so on the claim.
		c.recorder.Event(claim, v1.EventTypeWarning, "ProvisioningFailed", err.Error())
		c.log.Warn("cannot provision", "claim", namespace+"/"+name, "error", err)
		return nil
	}
	dir := pv.Spec.Local.Path
	// Any user a pod runs as may write in it, as in a fresh filesystem; chmod, as the umask applies to mkdir.
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return err
	}
	created, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		existing, getErr := c.client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
		if getErr != nil {
			return getErr
		}
		return c.checkVolumeFor(existing, claim)
	} else if err != nil {
		return err
	}
	c.log.Info("provisioned", "claim", namespace+"/"+name, "volume", created.Name, "path", dir)
	c.recorder.Eventf(claim, v1.EventTypeNormal, "ProvisioningSucceeded", "made volume %s at %s on node %s", created.Name, dir, c.opts.NodeName)
	return nil
}

// checkVolumeFor accepts a PV of the claim's name that was made for this claim (a restart, or an
// informer behind the API), and reports one that was not.
func (c *Controller) checkVolumeFor(pv *v1.PersistentVolume, claim *v1.PersistentVolumeClaim) error {
	if pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.UID == claim.UID {
		return nil
	}
	return fmt.Errorf("volume %s exists but is not for claim %s/%s (uid %s)", pv.Name, claim.Namespace, claim.Name, claim.UID)
}

func (c *Controller) syncVolume(ctx context.Context, name string) error {
	pv, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	if !c.opts.shouldDelete(pv) {
		return nil
	}
	dir := pv.Spec.Local.Path
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	uid := pv.UID
	err = c.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	c.log.Info("deleted", "volume", pv.Name, "path", dir)
	return nil
}
