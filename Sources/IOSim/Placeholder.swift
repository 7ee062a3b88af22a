public enum IOSimPlaceholder {}
