// Our camera and microphone: acquire them, mute and unmute, switch devices (the
// speaker through setSinkId where the browser has it).

export type DeviceKind = "videoinput" | "audioinput" | "audiooutput";

export class LocalMedia {
  stream = new MediaStream();
  error = "";

  get micOn(): boolean {
    return this.stream.getAudioTracks().some((t) => t.enabled);
  }

  get camOn(): boolean {
    return this.stream.getVideoTracks().some((t) => t.enabled);
  }

  get hasMic(): boolean {
    return this.stream.getAudioTracks().length > 0;
  }

  get hasCam(): boolean {
    return this.stream.getVideoTracks().length > 0;
  }

  async acquire(): Promise<void> {
    const video = { width: { ideal: 1920 }, height: { ideal: 1080 }, frameRate: { ideal: 30 } };
    for (const constraints of [{ audio: true, video }, { audio: true }, { video }]) {
      try {
        this.stream = await navigator.mediaDevices.getUserMedia(constraints);
        return;
      } catch (err) {
        this.error = String(err);
      }
    }
  }

  set(kind: "audio" | "video", on: boolean): void {
    const tracks = kind === "audio" ? this.stream.getAudioTracks() : this.stream.getVideoTracks();
    for (const t of tracks) t.enabled = on;
  }

  stop(): void {
    for (const t of this.stream.getTracks()) t.stop();
  }

  async devices(): Promise<MediaDeviceInfo[]> {
    return navigator.mediaDevices.enumerateDevices();
  }

  /** Open the chosen device and return [old, fresh] so the caller swaps the sender. */
  async switchTo(kind: "videoinput" | "audioinput", deviceId: string): Promise<[MediaStreamTrack | undefined, MediaStreamTrack] | null> {
    const constraints = kind === "videoinput" ? { video: { deviceId: { exact: deviceId } } } : { audio: { deviceId: { exact: deviceId } } };
    const fresh = (await navigator.mediaDevices.getUserMedia(constraints)).getTracks()[0];
    if (!fresh) return null;
    const old = kind === "videoinput" ? this.stream.getVideoTracks()[0] : this.stream.getAudioTracks()[0];
    fresh.enabled = old ? old.enabled : true;
    if (old) {
      this.stream.removeTrack(old);
      old.stop();
    }
    this.stream.addTrack(fresh);
    return [old, fresh];
  }
}

export function canChooseSpeaker(): boolean {
  return "setSinkId" in HTMLMediaElement.prototype;
}
