/*
 * Size limit of the upload areas built by dashboard/components/uploads.py (size_limited_upload).
 *
 * Their wrapper (class "size-limited-upload") carries data-max-bytes (largest file, bytes) and
 * data-message-id (the component showing the message). A file choice or drop holding a larger file is
 * stopped here, in the capture phase on window, before React's listeners see it: no file is read and
 * nothing is sent. The message "<name> is N MiB; the limit is M MiB" (the wording of the server's
 * checks, which stay) is written with dash_clientside.set_props so Dash's state stays consistent.
 */
(function () {
    const MIB = 2 ** 20;

    function oversizeMessage(wrapper, files) {
        const maxBytes = Number(wrapper.dataset.maxBytes);
        return Array.from(files || [])
            .filter(file => file.size > maxBytes)
            .map(file => `${file.name} is ${(file.size / MIB).toFixed(1)} MiB; ` +
                         `the limit is ${Math.floor(maxBytes / MIB)} MiB`)
            .join('. ');
    }

    function refuse(event, files) {
        const wrapper = event.target instanceof Element && event.target.closest('.size-limited-upload');
        const message = wrapper ? oversizeMessage(wrapper, files) : '';
        if (!message) {
            return false;
        }
        event.stopImmediatePropagation();
        event.preventDefault();
        window.dash_clientside.set_props(wrapper.dataset.messageId, {
            children: {
                type: 'Alert',
                namespace: 'dash_bootstrap_components',
                props: {children: message, color: 'danger', className: 'p-2 mt-1'},
            },
        });
        return true;
    }

    window.addEventListener('change', event => {
        if (event.target.type === 'file' && refuse(event, event.target.files)) {
            event.target.value = '';  // choosing the same file again fires a change again
        }
    }, true);

    window.addEventListener('drop', event => {
        if (event.dataTransfer && refuse(event, event.dataTransfer.files)) {
            // an empty drop ends the drop zone's drag state without uploading anything
            event.target.dispatchEvent(new DragEvent('drop', {
                bubbles: true, cancelable: true, dataTransfer: new DataTransfer(),
            }));
        }
    }, true);
})();
