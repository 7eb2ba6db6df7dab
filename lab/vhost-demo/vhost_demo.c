// SPDX-License-Identifier: GPL-2.0
/*
 * vhost-demo: the host-kernel backend of seed 000 lab 3 (one vring, requests {opt u32, buff u32}), written for the
 * virtsim KVM lab with the robust behaviour of the simulator's model (src/Devices/virtio-demo/Model/VhostDemo.cs, Flavour
 * Robust): a request needs >= 8 out bytes and >= 8 in bytes; opt 0 answers {0, state}, opt 1 stores buff and
 * answers {1, buff}, any other opt answers {opt, buff} and changes nothing; used.len is the bytes written (8), a
 * short request completes with used.len 0; the handler does nothing while no backend is attached and never
 * requeues itself (the seed's unconditional vhost_poll_queue would spin the worker forever).
 *
 * The control plane is the vhost core's (vhost_dev_ioctl, vhost_vring_ioctl) plus two device ioctls laid out like
 * vhost-net's (drivers/vhost/net.c): VHOST_GET/SET_FEATURES (VHOST_FEATURES without VHOST_F_LOG_ALL) and
 * VHOST_DEMO_SET_BACKEND (vhost_net_set_backend's checks and order, fd == -1 detaches), and RESET_OWNER as
 * vhost_net_reset_owner.
 *
 * VHOST_DEMO_GET_STATS returns what the data path did (handler runs, used entries added, vhost_signal calls and
 * the used index after each of the last VHOST_DEMO_SIGNAL_LOG calls), optionally after waiting for the worker: the
 * recorder's direct wiring (docs/recording.md section 5) hands the call eventfd to KVM_IRQFD, which consumes every
 * signal, so the interrupts are counted here, where they are made.
 */
#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/uio.h>
#include <linux/fs.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "vhost.h"

/* The model's weights (VhostOptions defaults: VHOST_NET_PKT_WEIGHT and VHOST_NET_WEIGHT). */
#define VHOST_DEMO_PKT_WEIGHT 256
#define VHOST_DEMO_WEIGHT 0x80000

#define VHOST_DEMO_FEATURES (VHOST_FEATURES & ~(1ULL << VHOST_F_LOG_ALL))

/* _IOW(VHOST_VIRTIO, 0x30, struct vhost_vring_file): VHOST_NET_SET_BACKEND's number and argument. */
#define VHOST_DEMO_SET_BACKEND _IOW(VHOST_VIRTIO, 0x30, struct vhost_vring_file)

/* Counters of the data path, read by VHOST_DEMO_GET_STATS. signal_used_idx[i % VHOST_DEMO_SIGNAL_LOG] is the used
 * index (vq->last_used_idx) right after the i-th vhost_signal call (0-based), so a reader that looks at most
 * VHOST_DEMO_SIGNAL_LOG signals apart knows which used entries each interrupt covered. */
#define VHOST_DEMO_SIGNAL_LOG 64
struct vhost_demo_stats {
	__u32 flags;     /* in: VHOST_DEMO_STATS_FLUSH */
	__u32 log_size;  /* out: VHOST_DEMO_SIGNAL_LOG */
	__u64 kicks;     /* handler runs with a backend attached */
	__u64 used;      /* used entries added */
	__u64 signals;   /* vhost_signal calls with a call eventfd set */
	__u16 signal_used_idx[VHOST_DEMO_SIGNAL_LOG];
};

/* In flags: wait for the worker first (vhost_dev_flush), so no handler runs while the counters are read. */
#define VHOST_DEMO_STATS_FLUSH 1u
/* A handler that used up its weight requeues itself (vhost_exceeds_weight): flush at most this often. */
#define VHOST_DEMO_FLUSH_ROUNDS 64

#define VHOST_DEMO_GET_STATS _IOWR(VHOST_VIRTIO, 0x31, struct vhost_demo_stats)

#define VHOST_DEMO_INITIAL_STATE 0x1333
#define VHOST_DEMO_REQUEST_SIZE 8

struct vhost_demo {
	struct vhost_dev dev;
	struct vhost_virtqueue vq;
	struct vhost_virtqueue *vqs[1];
	u32 state;
	u64 requests;
	u64 short_requests;
	struct vhost_demo_stats stats; /* under vq.mutex */
};

static void handle_demo_kick(struct vhost_work *work)
{
	/* 6.1: the vq's kick work is its poll's work. */
	struct vhost_virtqueue *vq = container_of(work, struct vhost_virtqueue, poll.work);
	struct vhost_demo *d = container_of(vq->dev, struct vhost_demo, dev);
	unsigned int out, in;
	size_t out_len, in_len, total_len = 0;
	int head, pkts = 0;
	struct iov_iter it;
	__le32 req[2], resp[2];

	mutex_lock(&vq->mutex);
	if (!vhost_vq_get_backend(vq))
		goto out;
	d->stats.kicks++;
	vhost_disable_notify(&d->dev, vq);
	for (;;) {
		int written = 0;

		head = vhost_get_vq_desc(vq, vq->iov, ARRAY_SIZE(vq->iov), &out, &in, NULL, NULL);
		if (unlikely(head < 0))
			break; /* vq_err already reported it; notifications stay off, as in every vhost driver */
		if (head == vq->num) {
			/* Nothing new: re-enable notifications, then re-check the race with a guest that just added. */
			if (unlikely(vhost_enable_notify(&d->dev, vq))) {
				vhost_disable_notify(&d->dev, vq);
				continue;
			}
			break;
		}
		out_len = iov_length(vq->iov, out);
		in_len = iov_length(&vq->iov[out], in);
		if (out_len >= VHOST_DEMO_REQUEST_SIZE && in_len >= sizeof(resp)) {
			iov_iter_init(&it, WRITE, vq->iov, out, out_len);
			if (copy_from_iter(req, sizeof(req), &it) == sizeof(req)) {
				u32 opt = le32_to_cpu(req[0]), buff = le32_to_cpu(req[1]);
				u32 answer;

				if (opt == 0) {
					answer = d->state;
				} else if (opt == 1) {
					d->state = buff;
					answer = buff;
				} else {
					answer = buff;
				}
				resp[0] = cpu_to_le32(opt);
				resp[1] = cpu_to_le32(answer);
				iov_iter_init(&it, READ, &vq->iov[out], in, in_len);
				written = copy_to_iter(resp, sizeof(resp), &it);
				d->requests++;
			} else {
				d->short_requests++;
			}
		} else {
			d->short_requests++;
		}
		/* vhost_add_used_and_signal, split so the signal is counted with the used index it covers. */
		if (vhost_add_used(vq, head, written) == 0)
			d->stats.used++;
		if (vq->call_ctx.ctx) {
			d->stats.signal_used_idx[d->stats.signals % VHOST_DEMO_SIGNAL_LOG] = vq->last_used_idx;
			d->stats.signals++;
		}
		vhost_signal(&d->dev, vq);
		pkts++;
		total_len += out_len + in_len;
		/* Requeues the work itself when the budget is used up (vhost_exceeds_weight calls vhost_poll_queue). */
		if (unlikely(vhost_exceeds_weight(vq, pkts, min_t(size_t, total_len, INT_MAX))))
			break;
	}
out:
	mutex_unlock(&vq->mutex);
}

static int vhost_demo_open(struct inode *inode, struct file *f)
{
	struct vhost_demo *d = kvzalloc(sizeof(*d), GFP_KERNEL | __GFP_RETRY_MAYFAIL);

	if (!d)
		return -ENOMEM;
	d->vqs[0] = &d->vq;
	d->vq.handle_kick = handle_demo_kick;
	d->state = VHOST_DEMO_INITIAL_STATE;
	vhost_dev_init(&d->dev, d->vqs, 1, UIO_MAXIOV, VHOST_DEMO_PKT_WEIGHT, VHOST_DEMO_WEIGHT, true, NULL);
	f->private_data = d;
	return 0;
}

/* Detach the backend; returns the old one. Caller holds the vq mutex. */
static void *vhost_demo_detach(struct vhost_demo *d)
{
	void *old = vhost_vq_get_backend(&d->vq);

	vhost_vq_set_backend(&d->vq, NULL);
	return old;
}

static int vhost_demo_release(struct inode *inode, struct file *f)
{
	struct vhost_demo *d = f->private_data;

	mutex_lock(&d->vq.mutex);
	vhost_demo_detach(d);
	mutex_unlock(&d->vq.mutex);
	vhost_dev_flush(&d->dev);
	vhost_dev_stop(&d->dev);
	vhost_dev_cleanup(&d->dev);
	kvfree(d);
	return 0;
}

/* vhost_net_set_backend's order: owner, index, vhost_vq_access_ok, then attach and vhost_vq_init_access. */
static long vhost_demo_set_backend(struct vhost_demo *d, unsigned int index, int fd)
{
	struct vhost_virtqueue *vq = &d->vq;
	void *old, *new;
	long r;

	mutex_lock(&d->dev.mutex);
	r = vhost_dev_check_owner(&d->dev);
	if (r)
		goto out;
	if (index >= 1) {
		r = -ENOBUFS;
		goto out;
	}
	mutex_lock(&vq->mutex);
	if (!vhost_vq_access_ok(vq)) {
		r = -EFAULT;
		goto out_vq;
	}
	new = fd == -1 ? NULL : d;
	old = vhost_vq_get_backend(vq);
	if (new != old) {
		vhost_vq_set_backend(vq, new);
		r = vhost_vq_init_access(vq);
		if (r)
			vhost_vq_set_backend(vq, old);
	}
out_vq:
	mutex_unlock(&vq->mutex);
	if (!r)
		vhost_dev_flush(&d->dev);
out:
	mutex_unlock(&d->dev.mutex);
	return r;
}

/* The counters, after waiting for the worker when asked (VHOST_DEMO_STATS_FLUSH). */
static long vhost_demo_get_stats(struct vhost_demo *d, struct vhost_demo_stats __user *argp)
{
	struct vhost_demo_stats s;
	u32 flags;
	int i;

	if (get_user(flags, &argp->flags))
		return -EFAULT;
	if (flags & ~VHOST_DEMO_STATS_FLUSH)
		return -EINVAL;
	mutex_lock(&d->dev.mutex);
	if (flags & VHOST_DEMO_STATS_FLUSH) {
		for (i = 0; i < VHOST_DEMO_FLUSH_ROUNDS; i++) {
			vhost_dev_flush(&d->dev);
			if (!vhost_has_work(&d->dev))
				break;
		}
	}
	mutex_lock(&d->vq.mutex);
	s = d->stats;
	mutex_unlock(&d->vq.mutex);
	mutex_unlock(&d->dev.mutex);
	s.flags = flags;
	s.log_size = VHOST_DEMO_SIGNAL_LOG;
	if (copy_to_user(argp, &s, sizeof(s)))
		return -EFAULT;
	return 0;
}

/* vhost_net_reset_owner's order. */
static long vhost_demo_reset_owner(struct vhost_demo *d)
{
	struct vhost_iotlb *umem;
	long r;

	mutex_lock(&d->dev.mutex);
	r = vhost_dev_check_owner(&d->dev);
	if (r)
		goto out;
	umem = vhost_dev_reset_owner_prepare();
	if (!umem) {
		r = -ENOMEM;
		goto out;
	}
	mutex_lock(&d->vq.mutex);
	vhost_demo_detach(d);
	mutex_unlock(&d->vq.mutex);
	vhost_dev_flush(&d->dev);
	vhost_dev_stop(&d->dev);
	vhost_dev_reset_owner(&d->dev, umem);
out:
	mutex_unlock(&d->dev.mutex);
	return r;
}

/* vhost_net_set_features without LOG_ALL and ACCESS_PLATFORM (neither is offered). */
static long vhost_demo_set_features(struct vhost_demo *d, u64 features)
{
	mutex_lock(&d->dev.mutex);
	mutex_lock(&d->vq.mutex);
	d->vq.acked_features = features;
	mutex_unlock(&d->vq.mutex);
	mutex_unlock(&d->dev.mutex);
	return 0;
}

static long vhost_demo_ioctl(struct file *f, unsigned int ioctl, unsigned long arg)
{
	struct vhost_demo *d = f->private_data;
	void __user *argp = (void __user *)arg;
	u64 __user *featurep = argp;
	struct vhost_vring_file backend;
	u64 features;
	long r;

	switch (ioctl) {
	case VHOST_DEMO_SET_BACKEND:
		if (copy_from_user(&backend, argp, sizeof(backend)))
			return -EFAULT;
		return vhost_demo_set_backend(d, backend.index, backend.fd);
	case VHOST_GET_FEATURES:
		features = VHOST_DEMO_FEATURES;
		if (copy_to_user(featurep, &features, sizeof(features)))
			return -EFAULT;
		return 0;
	case VHOST_SET_FEATURES:
		if (copy_from_user(&features, featurep, sizeof(features)))
			return -EFAULT;
		if (features & ~VHOST_DEMO_FEATURES)
			return -EOPNOTSUPP;
		return vhost_demo_set_features(d, features);
	case VHOST_RESET_OWNER:
		return vhost_demo_reset_owner(d);
	case VHOST_DEMO_GET_STATS:
		return vhost_demo_get_stats(d, argp);
	default:
		mutex_lock(&d->dev.mutex);
		r = vhost_dev_ioctl(&d->dev, ioctl, argp);
		if (r == -ENOIOCTLCMD)
			r = vhost_vring_ioctl(&d->dev, ioctl, argp);
		else
			vhost_dev_flush(&d->dev);
		mutex_unlock(&d->dev.mutex);
		return r;
	}
}

static const struct file_operations vhost_demo_fops = {
	.owner = THIS_MODULE,
	.release = vhost_demo_release,
	.unlocked_ioctl = vhost_demo_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.open = vhost_demo_open,
	.llseek = noop_llseek,
};

static struct miscdevice vhost_demo_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "vhost-demo",
	.fops = &vhost_demo_fops,
};
module_misc_device(vhost_demo_misc);

MODULE_LICENSE("GPL v2");
MODULE_AUTHOR("virtsim");
MODULE_DESCRIPTION("vhost-demo: seed 000 lab 3's kernel vhost backend, robust behaviour");
