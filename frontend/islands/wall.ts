// Wall display (大屏) mode for the command centre: dark theme, no navigation chrome.
document.body.classList.add("wall");
