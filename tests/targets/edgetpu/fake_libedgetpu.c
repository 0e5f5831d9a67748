/* A stand-in libedgetpu for tests, built with the system C compiler (cc -shared -fPIC).
 *
 * It exports the C API of tflite/public/edgetpu_c.h that qatbench reads through ctypes
 * (edgetpu_version, edgetpu_list_devices, edgetpu_free_devices, allocated like the real
 * one: the structs, then the path strings, in one block) and the two TFLite external
 * delegate entry points that load_delegate() looks up. Knobs (environment):
 *
 *   FAKE_EDGETPU_VERSION     what edgetpu_version() returns
 *   FAKE_EDGETPU_DEVICES     "usb:/sys/bus/usb/devices/2-1,pci:/dev/apex_0" (default: none)
 *   FAKE_EDGETPU_FAIL_FIRST  the first N tflite_plugin_create_delegate calls fail, as a
 *                            USB accelerator that is still re-enumerating does
 *   FAKE_EDGETPU_CRASH       the delegate's Prepare dereferences NULL when TFLite applies
 *                            it: the SIGSEGV of a libedgetpu built against another TFLite
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum edgetpu_device_type { EDGETPU_APEX_PCI = 0, EDGETPU_APEX_USB = 1 };

struct edgetpu_device {
  enum edgetpu_device_type type;
  const char* path;
};

const char* edgetpu_version(void) {
  const char* version = getenv("FAKE_EDGETPU_VERSION");
  return version ? version
                 : "BuildLabel(COMPILER=6.3.0 20170516,DATE=redacted,TIME=redacted,"
                   "CL_NUMBER=291256449), RuntimeVersion(14)";
}

struct edgetpu_device* edgetpu_list_devices(size_t* num_devices) {
  const char* spec = getenv("FAKE_EDGETPU_DEVICES");
  *num_devices = 0;
  if (!spec || !*spec) return NULL;
  size_t count = 1;
  for (const char* c = spec; *c; ++c) count += (*c == ',');
  size_t head = sizeof(struct edgetpu_device) * count;
  char* memory = malloc(head + strlen(spec) + 1);
  struct edgetpu_device* devices = (struct edgetpu_device*)memory;
  char* paths = memory + head;
  strcpy(paths, spec);
  size_t n = 0;
  for (char* item = strtok(paths, ","); item; item = strtok(NULL, ",")) {
    char* colon = strchr(item, ':');
    if (!colon) continue;
    *colon = '\0';
    devices[n].type = strcmp(item, "pci") == 0 ? EDGETPU_APEX_PCI : EDGETPU_APEX_USB;
    devices[n].path = colon + 1;
    ++n;
  }
  *num_devices = n;
  return devices;
}

void edgetpu_free_devices(struct edgetpu_device* dev) { free(dev); }

/* TfLiteDelegate begins { void* data_; TfLiteStatus (*Prepare)(TfLiteContext*,
 * TfLiteDelegate*); ... }; the rest stays zero (no buffer handles, no flags). */
static int prepare_nothing(void* context, void* delegate) { return 0; /* kTfLiteOk */ }

static int prepare_crash(void* context, void* delegate) {
  volatile int* nowhere = NULL;
  return *nowhere;
}

static int calls = 0;

void* tflite_plugin_create_delegate(char** keys, char** values, size_t num_options,
                                    void (*report_error)(const char*)) {
  const char* fail_first = getenv("FAKE_EDGETPU_FAIL_FIRST");
  if (fail_first && ++calls <= atoi(fail_first)) {
    if (report_error) report_error("Failed to open device: USB transfer error");
    return NULL;
  }
  void** delegate = calloc(32, sizeof(void*));
  delegate[1] = getenv("FAKE_EDGETPU_CRASH") ? (void*)prepare_crash : (void*)prepare_nothing;
  return delegate;
}

void tflite_plugin_destroy_delegate(void* delegate) { free(delegate); }
